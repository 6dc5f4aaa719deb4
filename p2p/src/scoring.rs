//! Peer scoring: offences add penalty points that decay with time; crossing the threshold bans
//! the peer (disconnected, and its connections refused) for a while.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Something a peer did wrong. The node reports the first four after decoding what it got; the
/// network itself finds the last two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Offence {
    /// Undecodable content, or a frame or request that breaks the wire format.
    Malformed,
    /// A signature that does not verify.
    BadSignature,
    /// A forged certificate or a message claiming another's authority: never an accident.
    Forged,
    /// Content that decodes and verifies but is useless (stale, duplicate, unasked).
    Spam,
    /// A frame over the size limit of its protocol.
    Oversized,
    /// A message beyond the peer's rate; the message is dropped.
    OverRate,
}

impl Offence {
    /// Penalty points; the default ban threshold is 100. An honest peer never sends oversized
    /// frames or forged certificates, so one is enough; two undecodable or badly signed
    /// messages; ten useless ones; fifty messages over the rate in a short time.
    pub fn penalty(self) -> u32 {
        match self {
            Offence::Forged | Offence::Oversized => 100,
            Offence::Malformed | Offence::BadSignature => 50,
            Offence::Spam => 10,
            Offence::OverRate => 2,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Penalised, still welcome.
    Warned,
    /// Just crossed the threshold: disconnect and refuse it now.
    Ban,
    /// Already banned; nothing more to do.
    Banned,
}

#[derive(Debug)]
struct Standing {
    penalty: f64,
    updated: Instant,
    banned_until: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Scoreboard {
    peers: HashMap<PeerId, Standing>,
    threshold: f64,
    decay_per_sec: f64,
    ban_duration: Duration,
}

impl Scoreboard {
    pub fn new(threshold: u32, decay_per_sec: u32, ban_duration: Duration) -> Self {
        Self {
            peers: HashMap::new(),
            threshold: threshold.into(),
            decay_per_sec: decay_per_sec.into(),
            ban_duration,
        }
    }

    pub fn penalise(&mut self, peer: PeerId, offence: Offence, now: Instant) -> Verdict {
        let standing = self.peers.entry(peer).or_insert(Standing {
            penalty: 0.0,
            updated: now,
            banned_until: None,
        });
        if standing.banned_until.is_some() {
            return Verdict::Banned;
        }
        let elapsed = now
            .saturating_duration_since(standing.updated)
            .as_secs_f64();
        standing.penalty = (standing.penalty - elapsed * self.decay_per_sec).max(0.0)
            + f64::from(offence.penalty());
        standing.updated = now;
        if standing.penalty >= self.threshold {
            standing.banned_until = Some(now + self.ban_duration);
            Verdict::Ban
        } else {
            Verdict::Warned
        }
    }

    /// Banned until the swarm lifts it through [`Scoreboard::lift_expired`].
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|s| s.banned_until.is_some())
    }

    /// The current penalty after decay (0 for unknown peers).
    pub fn penalty(&self, peer: &PeerId, now: Instant) -> u32 {
        self.peers.get(peer).map_or(0, |s| {
            let elapsed = now.saturating_duration_since(s.updated).as_secs_f64();
            (s.penalty - elapsed * self.decay_per_sec).max(0.0) as u32
        })
    }

    pub fn banned(&self) -> Vec<PeerId> {
        let mut out: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.banned_until.is_some())
            .map(|(p, _)| *p)
            .collect();
        out.sort();
        out
    }

    /// Ends the bans that are due (the peer starts afresh) and forgets peers whose penalty has
    /// decayed to nothing, so the table only holds peers that misbehaved lately.
    pub fn lift_expired(&mut self, now: Instant) -> Vec<PeerId> {
        let mut lifted = Vec::new();
        let decay = self.decay_per_sec;
        self.peers.retain(|peer, s| match s.banned_until {
            Some(until) if until <= now => {
                lifted.push(*peer);
                false
            }
            Some(_) => true,
            None => {
                let elapsed = now.saturating_duration_since(s.updated).as_secs_f64();
                s.penalty - elapsed * decay > 0.0
            }
        });
        lifted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        crate::config::keypair_from_seed([n; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    #[test]
    fn offences_add_up_to_a_ban_once() {
        let t0 = Instant::now();
        let mut board = Scoreboard::new(100, 1, Duration::from_secs(60));
        let p = peer(1);
        assert_eq!(board.penalise(p, Offence::Malformed, t0), Verdict::Warned);
        assert!(!board.is_banned(&p));
        assert_eq!(board.penalise(p, Offence::BadSignature, t0), Verdict::Ban);
        assert!(board.is_banned(&p));
        assert_eq!(board.penalise(p, Offence::Forged, t0), Verdict::Banned);
        assert_eq!(board.banned(), vec![p]);
        assert!(!board.is_banned(&peer(2)));
    }

    #[test]
    fn penalties_decay_and_bans_expire() {
        let t0 = Instant::now();
        let mut board = Scoreboard::new(100, 1, Duration::from_secs(60));
        let p = peer(1);
        board.penalise(p, Offence::Malformed, t0);
        // 50 points, 1 per second: 30 s later 20 are left, so another 50 is not yet a ban.
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(board.penalty(&p, t1), 20);
        assert_eq!(board.penalise(p, Offence::Malformed, t1), Verdict::Warned);
        assert_eq!(board.penalise(p, Offence::Oversized, t1), Verdict::Ban);
        assert!(board.lift_expired(t1 + Duration::from_secs(59)).is_empty());
        assert_eq!(board.lift_expired(t1 + Duration::from_secs(60)), vec![p]);
        assert!(!board.is_banned(&p));
        assert_eq!(board.penalty(&p, t1 + Duration::from_secs(60)), 0);
    }

    #[test]
    fn forgets_peers_whose_penalty_decayed() {
        let t0 = Instant::now();
        let mut board = Scoreboard::new(100, 10, Duration::from_secs(60));
        board.penalise(peer(1), Offence::Spam, t0);
        board.lift_expired(t0);
        assert_eq!(board.peers.len(), 1);
        board.lift_expired(t0 + Duration::from_secs(2));
        assert!(board.peers.is_empty());
    }

    #[test]
    fn flooding_over_rate_bans_after_fifty() {
        let t0 = Instant::now();
        let mut board = Scoreboard::new(100, 1, Duration::from_secs(60));
        let p = peer(3);
        for _ in 0..49 {
            assert_eq!(board.penalise(p, Offence::OverRate, t0), Verdict::Warned);
        }
        assert_eq!(board.penalise(p, Offence::OverRate, t0), Verdict::Ban);
    }
}
