"""The data path of a RegionServer (DESIGN §11): region stores with HBase's data model, scanners, filters."""
