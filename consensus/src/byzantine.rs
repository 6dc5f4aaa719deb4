//! What the simulator's and the tests' byzantine validators use to misbehave with valid
//! signatures. Kept out of [`Core`]: the honest type has no method that signs what its own
//! rules would refuse. These build on the honest proposer ([`Core::build_proposal`]) and sign
//! with the core's key, but record nothing in its safety data.

use crate::core::{Core, Environment, PayloadSource};
use runnet_types::consensus::Proposal;

/// Another block for the same round and parent as `p` (an equivocation).
pub(crate) fn variant_of<E: Environment, P: PayloadSource>(
    core: &Core<E, P>,
    p: &Proposal,
) -> Option<Proposal> {
    let parent = core.tree().parent_info(&p.block.header().parent)?;
    core.build_proposal(
        parent,
        p.block.justify.clone(),
        p.block.round(),
        p.tc.clone(),
        Vec::new(),
        p.block.header().timestamp_ms.saturating_add(1),
    )
}

/// A block for `round` extending the newest remembered block below the last commit: it
/// conflicts with a committed block, so only a broken vote rule would certify it.
pub(crate) fn fork_below_commit<E: Environment, P: PayloadSource>(
    core: &Core<E, P>,
    round: u64,
    timestamp_ms: u64,
) -> Option<Proposal> {
    let root_height = core.committed_height();
    let entry = core
        .tree()
        .history()
        .filter(|h| h.info.height < root_height && h.qc.is_some())
        .last()?;
    let qc = entry.qc.clone()?;
    core.build_proposal(entry.info, qc, round, None, Vec::new(), timestamp_ms)
}
