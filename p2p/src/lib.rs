//! The network: libp2p transport for batches, consensus messages and sync.
//!
//! (Being built: see issue 5.)
