//! Operations on a table. Those that change it build what they will do first, then do it;
//! `check` only reads.

pub mod auto_tag;
pub mod branch;
pub mod check;
pub mod consumers;
pub mod delete_tag;
pub mod expire;
pub mod expire_changelogs;
pub mod expire_tags;
pub mod hints;
pub mod iceberg_view;
pub mod journal;
pub mod orphans;
pub mod rollback;
pub mod saved_plan;
pub mod tag;
pub mod warehouse;
