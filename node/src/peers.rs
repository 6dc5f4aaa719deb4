//! Who is behind a network peer: the mapping between libp2p peer ids and the addresses the
//! consensus core speaks in.
//!
//! A validator's peer id is part of its record (genesis, or its bond transaction, where the state
//! checked the binding signature of its consensus key over the peer id), so a peer is taken for a
//! validator only when the chain says that validator uses that peer id: nobody can speak as a
//! validator from another peer. Messages still carry their own consensus signatures; the mapping
//! only decides where replies and votes go. Any other peer (a full node, a validator of no
//! current set) gets a stable pseudo-address derived from its peer id, which can never collide
//! with a real account because no key hashes to it knowingly.

use libp2p::PeerId;
use runnet_types::Address;
use std::collections::HashMap;
use std::str::FromStr;

#[derive(Default)]
pub struct PeerBook {
    validator_of: HashMap<PeerId, Address>,
    peer_of: HashMap<Address, PeerId>,
}

impl PeerBook {
    /// Replaces the validator bindings (address, peer id string from the chain). Unparsable peer
    /// ids are skipped: such a validator can only be reached by broadcast.
    pub fn set_validators<'a>(&mut self, validators: impl IntoIterator<Item = (Address, &'a str)>) {
        self.validator_of.clear();
        self.peer_of.clear();
        for (address, peer) in validators {
            if let Ok(peer) = PeerId::from_str(peer) {
                self.validator_of.insert(peer, address);
                self.peer_of.insert(address, peer);
            }
        }
    }

    /// The address the core sees for a message from `peer`.
    pub fn address_of(&mut self, peer: &PeerId) -> Address {
        if let Some(address) = self.validator_of.get(peer) {
            return *address;
        }
        let address = pseudo_address(peer);
        self.peer_of.entry(address).or_insert(*peer);
        address
    }

    /// The validator behind `peer`, if the chain binds it to one (the latest set or the one
    /// before): only those push batches into the store.
    pub fn validator(&self, peer: &PeerId) -> Option<Address> {
        self.validator_of.get(peer).copied()
    }

    /// The peer to send to for `address`.
    pub fn peer_of(&self, address: &Address) -> Option<PeerId> {
        self.peer_of.get(address).copied()
    }

    pub fn forget(&mut self, peer: &PeerId) {
        if !self.validator_of.contains_key(peer) {
            self.peer_of.remove(&pseudo_address(peer));
        }
    }
}

fn pseudo_address(peer: &PeerId) -> Address {
    let hash = blake3::hash(&[b"runnet/v1/peer\0".as_slice(), &peer.to_bytes()].concat());
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(&hash.as_bytes()[..20]);
    Address(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_map_both_ways_and_others_get_stable_pseudo_addresses() {
        let validator = PeerId::random();
        let stranger = PeerId::random();
        let mut book = PeerBook::default();
        let v_address = Address([1; 20]);
        let v_peer = validator.to_string();
        book.set_validators([(v_address, v_peer.as_str()), (Address([2; 20]), "garbage")]);
        assert_eq!(book.address_of(&validator), v_address);
        assert_eq!(book.validator(&validator), Some(v_address));
        assert_eq!(book.validator(&stranger), None);
        assert_eq!(book.peer_of(&v_address), Some(validator));
        assert_eq!(book.peer_of(&Address([2; 20])), None);

        let a = book.address_of(&stranger);
        assert_ne!(a, v_address);
        assert_eq!(book.address_of(&stranger), a);
        assert_eq!(book.peer_of(&a), Some(stranger));
        book.forget(&stranger);
        assert_eq!(book.peer_of(&a), None);
        book.forget(&validator);
        assert_eq!(book.peer_of(&v_address), Some(validator));
    }
}
