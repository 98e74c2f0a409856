//! Under Miri, which runs no foreign thread, there is no purger: the tests
//! call [`purge_expired`](super::purge_expired) themselves.

pub(super) fn work(_first: bool) {}

pub(super) fn forget() {}
