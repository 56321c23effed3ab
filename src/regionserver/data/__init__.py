"""The data path of a RegionServer: region stores with HBase's data model, scanners, filters (DESIGN §11)."""
