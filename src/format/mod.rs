//! Pure codecs: bytes in, types out. Nothing here touches storage, the clock or async code.
//!
//! | file | module |
//! | --- | --- |
//! | `snapshot/snapshot-N` | [`snapshot`] |
//! | `tag/tag-NAME` | [`tag`] |
//! | `schema/schema-N` | [`schema`], [`types`] |
//! | `LATEST`, `EARLIEST` | [`hint`] |
//! | `manifest/manifest-list-*`, `manifest-*`, `index-manifest-*` | [`manifest`] |
//! | partition, key and stats bytes | [`binary_row`] |
//! | partition directories | [`partition`] |
//! | any file name | [`file_name`] |

pub(crate) mod avro;
pub(crate) mod avro_datum;
pub mod binary_row;
pub mod deletion_vector;
pub mod duration;
pub mod file_name;
pub mod hint;
pub mod iceberg;
pub mod ids;
pub mod jackson;
pub mod manifest;
pub mod manifest_write;
pub(crate) mod ocf;
pub mod partition;
pub mod schema;
pub mod snapshot;
pub mod tag;
pub mod types;
