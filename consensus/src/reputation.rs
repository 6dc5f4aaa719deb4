//! Leader reputation: who the chain has seen at work lately, and who failed to lead.
//!
//! The schedule ([`crate::leader`]) hands out rounds by stake. A crashed, cut-off or withholding
//! validator keeps its turns there, and each costs a round timeout. So the leader of a round is
//! taken from the schedule among the validators that are *eligible* in the block the round
//! extends, and everyone who must agree on the leader holds that block and its ancestors:
//!
//! - **seen at work**: the proposer or a signer of the certificate extended (which headers name)
//!   of one of the last [`SEEN_BLOCKS`] blocks of its chain. A validator that stops voting
//!   stops being eligible a few blocks later.
//! - **not blamed lately**: every header names the validators to blame for the rounds between
//!   its certificate's round and its own, rounds that certified nothing (`failed_leaders`: each
//!   such round's leader and whoever was to collect its votes; [`crate::leader`]), and voters
//!   check the list. A validator blamed in one of the last [`REPUTATION_WINDOW_BLOCKS`] blocks
//!   of the chain does not lead. This is what catches a
//!   validator that votes but never proposes (withholding, or just restarted and not caught up).
//!
//! Both are read from the chain alone, so every node computes the same leader; the window
//! crosses epochs (blames are kept by address). When no one is eligible the plain schedule
//! applies. A blamed validator comes back on its own once the window has passed; if it fails
//! again it costs one more timeout per window, not one per turn.
//!
//! (After Aptos's leader reputation and Jolteon; the rule is this chain's own.)

use runnet_types::Address;
use runnet_types::consensus::{Committee, ProposedBlock};
use std::collections::{BTreeSet, VecDeque};

/// A leader blamed for a failed round does not lead again for this many blocks.
pub const REPUTATION_WINDOW_BLOCKS: u64 = 1_000;
/// A validator is seen at work if one of the last this many blocks shows it. One block is too
/// few: a certificate holds the first quorum of votes to arrive, so a live validator is missing
/// from some, and the leader of a round would then change with the block it extends.
pub const SEEN_BLOCKS: usize = 4;
/// Validators blamed by one block at most: the leaders of the last failed rounds before it and
/// those passed over for them.
pub const MAX_BLAMED: u64 = 2 * crate::leader::TRIED_ROUNDS;

/// The validators a block shows at work: its proposer and its certificate's signers, by address
/// (a block extending an epoch's root certificate names no signers).
pub fn seen_in(block: &ProposedBlock, committee: &Committee) -> Vec<Address> {
    let header = block.header();
    let mut seen: BTreeSet<Address> = header
        .justify_signers
        .iter()
        .filter_map(|i| committee.get(*i).map(|v| v.address))
        .collect();
    seen.insert(header.proposer);
    seen.into_iter().collect()
}

/// The leaders a block blames, by address.
pub fn blamed_in(block: &ProposedBlock, committee: &Committee) -> Vec<Address> {
    block
        .header()
        .failed_leaders
        .iter()
        .filter_map(|i| committee.get(*i).map(|v| v.address))
        .collect()
}

/// What the committed chain says, for blocks extending its tip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Blames of the last window of committed blocks, by height, ascending.
    blamed: VecDeque<(u64, Address)>,
    /// Who each of the last [`SEEN_BLOCKS`] committed blocks shows at work, oldest first
    /// (nobody at the genesis: the plain schedule).
    recent_seen: VecDeque<Vec<Address>>,
    tip_height: u64,
}

impl Reputation {
    /// Takes in the next committed block.
    pub fn commit(&mut self, block: &ProposedBlock, committee: &Committee) {
        let height = block.height();
        self.recent_seen.push_back(seen_in(block, committee));
        while self.recent_seen.len() > SEEN_BLOCKS {
            self.recent_seen.pop_front();
        }
        self.tip_height = height;
        for who in blamed_in(block, committee) {
            self.blamed.push_back((height, who));
        }
        let oldest = height.saturating_sub(REPUTATION_WINDOW_BLOCKS);
        while self.blamed.front().is_some_and(|(h, _)| *h <= oldest) {
            self.blamed.pop_front();
        }
    }

    /// Who the last `blocks` committed blocks show at work.
    pub fn seen_in_last(&self, blocks: usize) -> impl Iterator<Item = &Address> {
        let skip = self.recent_seen.len().saturating_sub(blocks);
        self.recent_seen.iter().skip(skip).flatten()
    }

    pub fn tip_height(&self) -> u64 {
        self.tip_height
    }

    /// Validators blamed by committed blocks of heights in `(above, up_to]`.
    pub fn blamed_between(&self, above: u64, up_to: u64) -> impl Iterator<Item = &Address> {
        self.blamed
            .iter()
            .filter(move |(h, _)| *h > above && *h <= up_to)
            .map(|(_, who)| who)
    }

    /// Blames held (at most the window's blocks times [`MAX_BLAMED_ROUNDS`]).
    pub fn len(&self) -> usize {
        self.blamed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blamed.is_empty()
    }
}
