//! Under Miri, which runs no foreign thread, there is no purger: the tests
//! call [`purge_expired`](super::purge_expired) themselves.

pub(super) fn kept(_first: bool) {}

pub(super) fn forget() {}
