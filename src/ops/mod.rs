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

/// The operations' futures are `Send`: the Python package and callers on a multi-threaded
/// runtime run them on worker threads, so a non-`Sync` reference held across an `.await`
/// breaks them. This fails to compile, here in the library's own build, when one is not.
#[cfg(test)]
#[allow(dead_code)]
mod futures_are_send {
    use super::*;
    use crate::clock::Clock;
    use crate::table::Table;

    fn send<T: Send>(_: T) {}

    async fn all(
        t: &Table,
        clock: &dyn Clock,
        saved: saved_plan::SavedPlan,
        expire: &expire::ExpireOptions,
    ) {
        send(check::check(t, &check::CheckOptions::default()));
        send(expire_tags::maintain(t, clock, true));
        send(expire_tags::plan(t, clock, None));
        send(expire::plan(t, expire, 0));
        send(delete_tag::plan(t, &[]));
        send(orphans::plan(t, &orphans::OrphanOptions::default(), clock));
        send(saved_plan::apply(t, saved, "", clock));
        send(crate::read::read(t, &crate::read::ReadOptions::default()));
    }
}
