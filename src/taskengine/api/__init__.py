"""The API: one pydantic model module per kind; `crdgen` turns them into crds/*.yaml."""
