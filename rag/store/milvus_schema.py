"""The Milvus collections of the Milvus store (see milvus.py): their fields and indexes."""

from __future__ import annotations

from collections.abc import Callable

from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException


def ensure_collections(db: MilvusClient, name: Callable[[str], str], dim: int) -> None:
    """Create the four collections if missing, and load them."""
    for kind, build in BUILD.items():
        if not db.has_collection(name(kind)):
            schema, index = build(db, dim)
            db.create_collection(name(kind), schema=schema, index_params=index, consistency_level="Strong")
    for kind in ("letters", "meta"):
        if not db.has_collection(name(kind)):
            schema = db.create_schema(auto_id=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=600)
            schema.add_field("letter", DataType.VARCHAR, max_length=512)
            schema.add_field("n", DataType.INT32)
            schema.add_field("batch", DataType.INT64)
            schema.add_field("value", DataType.VARCHAR, max_length=65_535)
            schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
            db.create_collection(name(kind), schema=schema, index_params=_dummy_index(db), consistency_level="Strong")
    for kind in ("passages", "sentences", "letters", "meta"):
        try:
            db.load_collection(name(kind))  # after a crash milvus-lite opens them released
        except MilvusException:
            # milvus-lite writes a segment's index file in place, so a crash can leave one cut short;
            # an index is derived from the stored rows: build it again from them
            index = _dummy_index(db) if kind in ("letters", "meta") else BUILD[kind](db, dim)[1]
            db.release_collection(name(kind))
            for existing in db.list_indexes(name(kind)):
                db.drop_index(name(kind), existing)
            db.create_index(name(kind), index)
            db.load_collection(name(kind))


def _dummy_index(db: MilvusClient):  # type: ignore[no-untyped-def]
    index = db.prepare_index_params()
    index.add_index("dummy", index_type="FLAT", metric_type="L2")
    return index


def _common(schema, dim: int) -> None:  # type: ignore[no-untyped-def]
    schema.add_field("key", DataType.INT64, is_primary=True)
    schema.add_field("letter", DataType.VARCHAR, max_length=512)
    schema.add_field("date", DataType.INT32)  # proleptic ordinal; 0 when undated
    schema.add_field("dossier", DataType.VARCHAR, max_length=128)
    schema.add_field("batch", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)


def _passages_schema(db: MilvusClient, dim: int):  # type: ignore[no-untyped-def]
    schema = db.create_schema(auto_id=False)
    _common(schema, dim)
    schema.add_field("pid", DataType.VARCHAR, max_length=600)
    schema.add_field("record", DataType.VARCHAR, max_length=65_535)
    # already stemmed by lexical.py: the analyzer only splits on white space and lower-cases
    schema.add_field(
        "stems", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params={"type": "standard"}
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["stems"], output_field_names=["sparse"]
        )
    )
    index = db.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 128})
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index


def _sentences_schema(db: MilvusClient, dim: int):  # type: ignore[no-untyped-def]
    schema = db.create_schema(auto_id=False)
    _common(schema, dim)
    schema.add_field("passage", DataType.INT64)
    schema.add_field("start", DataType.INT32)
    schema.add_field("end", DataType.INT32)
    index = db.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 128})
    return schema, index


BUILD = {"passages": _passages_schema, "sentences": _sentences_schema}  # schema and index of each vector collection
