//! Operations that change a table. Each builds what it will do first, then does it.

pub mod tag;
