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
//!   of the chain does not lead: each header carries who is excluded until which height
//!   (`leader_exclusions`, [`next_exclusions`] of its parent's), so a node checks a block with
//!   its parent alone, whatever history it pruned. This is what catches a
//!   validator that votes but never proposes (withholding, or just restarted and not caught up).
//!
//! Both are read from the chain alone, so every node computes the same leader; the window
//! crosses epochs (exclusions are kept by address). After a restart a node needs the last
//! [`SEEN_BLOCKS`] committed blocks, nothing more. When no one is eligible the plain schedule
//! applies. A blamed validator comes back on its own once the window has passed; if it fails
//! again it costs one more timeout per window, not one per turn.
//!
//! (After Aptos's leader reputation and Jolteon; the rule is this chain's own.)

use runnet_types::Address;
use runnet_types::consensus::{Committee, ProposedBlock};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

/// A block's `leader_exclusions`, from its parent's: what still holds at `height`, and the block's
/// own blames (by address) excluded for the window. Sorted by address, one entry each.
pub fn next_exclusions(
    parent: &[(Address, u64)],
    blamed: &[Address],
    height: u64,
) -> Vec<(Address, u64)> {
    let mut out: BTreeMap<Address, u64> = parent
        .iter()
        .filter(|(_, until)| *until > height)
        .map(|(who, until)| (*who, *until))
        .collect();
    let until = height.saturating_add(REPUTATION_WINDOW_BLOCKS);
    for who in blamed {
        let entry = out.entry(*who).or_insert(until);
        *entry = (*entry).max(until);
    }
    out.into_iter().collect()
}

/// Who the last few committed blocks show at work, for blocks extending the tip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentlySeen {
    /// Who each of the last [`SEEN_BLOCKS`] committed blocks shows, oldest first (nobody at the
    /// genesis: the plain schedule).
    blocks: VecDeque<Vec<Address>>,
}

impl RecentlySeen {
    /// Takes in the next committed block.
    pub fn commit(&mut self, block: &ProposedBlock, committee: &Committee) {
        self.blocks.push_back(seen_in(block, committee));
        while self.blocks.len() > SEEN_BLOCKS {
            self.blocks.pop_front();
        }
    }

    /// Who the last `blocks` committed blocks show at work.
    pub fn in_last(&self, blocks: usize) -> impl Iterator<Item = &Address> {
        let skip = self.blocks.len().saturating_sub(blocks);
        self.blocks.iter().skip(skip).flatten()
    }
}

/// Which committee members may lead, by index: seen at work and not excluded, unless the
/// exclusions would leave less than a quorum's stake eligible; then seen at work alone.
///
/// Why the floor: leaders are drawn among the eligible, and a 2-chain commit needs three
/// honest leaders in a row. Exclusions can take innocent validators out (a failed round blames
/// its leader and whoever was to collect its votes, and one of the two may be live), and they
/// last [`REPUTATION_WINDOW_BLOCKS`]. With four validators, a crash that got two excluded left
/// two eligible; when one of those two was then cut off, every round was led or collected by
/// it and the chain stopped until it came back (11 s in a `testnet up --faults default` run,
/// docs/consensus.md). An eligible set of at least a quorum's stake still holds honest leaders
/// in a row when one more of them fails; below that, the validators excluded are needed more
/// than the exclusion is.
pub fn eligible_mask(
    committee: &Committee,
    seen: &BTreeSet<Address>,
    excluded: &BTreeSet<Address>,
) -> Vec<bool> {
    let mask: Vec<bool> = committee
        .validators()
        .iter()
        .map(|v| seen.contains(&v.address) && !excluded.contains(&v.address))
        .collect();
    let stake: u128 = committee
        .validators()
        .iter()
        .zip(&mask)
        .filter(|(_, eligible)| **eligible)
        .map(|(v, _)| u128::from(v.stake))
        .sum();
    if excluded.is_empty() || committee.is_quorum(stake) {
        return mask;
    }
    committee
        .validators()
        .iter()
        .map(|v| seen.contains(&v.address))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader::tests::committee;

    #[test]
    fn exclusions_never_leave_less_than_a_quorum_eligible() {
        let c = committee(&[1, 1, 1, 1]);
        let a = |i: u8| Address([i + 1; 20]);
        let all: BTreeSet<Address> = (0..4).map(a).collect();
        // One excluded of four: three eligible, a quorum, so the exclusion holds.
        let one: BTreeSet<Address> = [a(1)].into();
        assert_eq!(eligible_mask(&c, &all, &one), [true, false, true, true]);
        // Two excluded (a crash blamed its leader and the innocent collector): two left is
        // not a quorum, so nobody seen at work is excluded.
        let two: BTreeSet<Address> = [a(1), a(2)].into();
        assert_eq!(eligible_mask(&c, &all, &two), [true, true, true, true]);
        // Not seen at work stays out whatever the exclusions.
        let three_seen: BTreeSet<Address> = [a(0), a(1), a(2)].into();
        assert_eq!(
            eligible_mask(&c, &three_seen, &two),
            [true, true, true, false]
        );
        assert_eq!(
            eligible_mask(&c, &three_seen, &BTreeSet::new()),
            [true, true, true, false]
        );
        // By stake, not by count: excluding the one big validator leaves a third.
        let c = committee(&[4, 1, 1]);
        let seen: BTreeSet<Address> = (0..3).map(a).collect();
        let big: BTreeSet<Address> = [a(0)].into();
        assert_eq!(eligible_mask(&c, &seen, &big), [true, true, true]);
        let small: BTreeSet<Address> = [a(2)].into();
        assert_eq!(eligible_mask(&c, &seen, &small), [true, true, false]);
    }

    #[test]
    fn exclusions_run_out_and_renew() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        let w = REPUTATION_WINDOW_BLOCKS;
        let first = next_exclusions(&[], &[b, a], 10);
        assert_eq!(first, vec![(a, 10 + w), (b, 10 + w)]);
        // Carried unchanged while they hold; a new blame renews one.
        let later = next_exclusions(&first, &[a], 20);
        assert_eq!(later, vec![(a, 20 + w), (b, 10 + w)]);
        // Gone once the height reaches them.
        assert_eq!(next_exclusions(&later, &[], 10 + w), vec![(a, 20 + w)]);
        assert_eq!(next_exclusions(&later, &[], 20 + w), vec![]);
        // Repeats and order do not matter.
        assert_eq!(next_exclusions(&[], &[a, a], 5), vec![(a, 5 + w)]);
    }
}
