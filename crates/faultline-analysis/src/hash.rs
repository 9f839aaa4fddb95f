//! Hash maps and sets keyed with foldhash: the analysis hashes millions of ids, names and keys per
//! investigation, and the standard library's SipHash cost a third of the call-graph build.
//! foldhash is seeded per process, which keeps hostile telemetry from choosing colliding keys.

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
