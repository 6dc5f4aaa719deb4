//! `--trace`: one line per event a node handled, with the actions it returned.

use crate::core::{Action, Event};
use runnet_types::consensus::MessageBody;
pub(super) fn describe_event(e: &Event) -> String {
    match e {
        Event::Message { from, message, .. } => {
            format!("{} from {}", describe_body(&message.body), from)
        }
        Event::Start { .. } => "start".into(),
        Event::Timer { .. } => "timer".into(),
        Event::PayloadReady { .. } => "payload ready".into(),
        Event::BlockExecuted { height, .. } => format!("executed {height}"),
    }
}

pub(super) fn describe_body(b: &MessageBody) -> String {
    match b {
        MessageBody::Proposal(p) => format!(
            "proposal(r{} h{} qc{} tc{:?})",
            p.block.round(),
            p.block.height(),
            p.block.justify.round(),
            p.tc.as_ref().map(|t| t.round)
        ),
        MessageBody::Vote(v) => format!("vote(r{})", v.data.round),
        MessageBody::Timeout(t) => format!("timeout(r{} hqc{})", t.data.round, t.data.hqc_round),
        MessageBody::SyncRequest(r) => {
            format!("sync request(e{} h{})", r.epoch, r.committed_height)
        }
        MessageBody::SyncResponse(r) => format!("sync response({} blocks)", r.blocks.len()),
        MessageBody::Status => "status".into(),
    }
}

pub(super) fn describe_action(a: &Action) -> String {
    match a {
        Action::Send { to, message } => format!("send {} to {to}", describe_body(&message.body)),
        Action::Broadcast { message } => format!("broadcast {}", describe_body(&message.body)),
        Action::PersistSafety(_) => "persist".into(),
        Action::Commit { blocks, .. } => format!(
            "commit {:?}",
            blocks.iter().map(|b| b.block.height()).collect::<Vec<_>>()
        ),
        Action::SetTimer { at_ms } => format!("timer {at_ms}"),
        Action::ReportEvidence(_) => "evidence".into(),
        Action::Halt { .. } => "halt".into(),
        Action::Refused(r) => format!("refused {}", r.kind()),
    }
}
