//! Operations that change a table. Each builds what it will do first, then does it.

pub mod check;
pub mod delete_tag;
pub mod expire;
pub mod expire_tags;
pub mod orphans;
pub mod rollback;
pub mod tag;
