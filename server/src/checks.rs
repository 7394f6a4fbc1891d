//! The one check path both interfaces share: the index served, the operator's policy for
//! unknown equipment, the counts, and the sightings journal.

use std::sync::Arc;

use imei_index::{Entry, Imei, Imsi, RuleKind, Status, Verdict};
use imei_index_trace::{Journal, Msisdn, Sighting};

use crate::metrics::{Interface, Metrics};
use crate::served::Served;

/// What to answer for equipment that no list names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// What the protocols say: N5g-eir 404 `ERROR_EQUIPMENT_UNKNOWN`, S13
    /// DIAMETER_ERROR_EQUIPMENT_UNKNOWN (5422).
    NotFound,
    /// This status, as operators who greylist (or whitelist) unknown handsets choose.
    Answer(Status),
}

impl std::str::FromStr for UnknownPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<UnknownPolicy, String> {
        match s {
            "not-found" => Ok(UnknownPolicy::NotFound),
            "whitelisted" => Ok(UnknownPolicy::Answer(Status::Allowed)),
            "greylisted" => Ok(UnknownPolicy::Answer(Status::Tracked)),
            "blacklisted" => Ok(UnknownPolicy::Answer(Status::Blocked)),
            _ => Err(format!(
                "{s:?} is not a policy for unknown equipment: use not-found, whitelisted, \
                 greylisted or blacklisted"
            )),
        }
    }
}

/// A check's outcome: what the lists say, and what to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The lists' verdict (unknown when no rule matched).
    pub verdict: Verdict,
    /// The status to answer, after the policy for unknown equipment; `None`: answer
    /// "equipment unknown".
    pub status: Option<Status>,
}

/// The check path: shared by every connection of both interfaces.
#[derive(Debug)]
pub struct Checks {
    served: Arc<Served>,
    unknown: UnknownPolicy,
    metrics: Arc<Metrics>,
    journal: Option<Arc<Journal>>,
}

impl Checks {
    /// Checks against `served`, answering unknown equipment as `unknown` says, counting in
    /// `metrics`, recording in `journal` when there is one.
    pub fn new(
        served: Arc<Served>,
        unknown: UnknownPolicy,
        metrics: Arc<Metrics>,
        journal: Option<Arc<Journal>>,
    ) -> Checks {
        Checks {
            served,
            unknown,
            metrics,
            journal,
        }
    }

    /// The index served.
    pub fn served(&self) -> &Arc<Served> {
        &self.served
    }

    /// The counts.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The journal, if sightings are recorded.
    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    /// Whether an index is loaded (else every check answers `None`).
    pub fn ready(&self) -> bool {
        self.served.live().is_some()
    }

    /// Checks a handset seen on `on` with the SIM and number the request named: counts
    /// it, records it in the journal (never waiting), and applies the policy for unknown
    /// equipment. `None` when no index is loaded yet.
    #[inline]
    pub fn check(
        &self,
        on: Interface,
        imei: Imei,
        imsi: Option<&Imsi>,
        msisdn: Option<Msisdn>,
    ) -> Option<Answer> {
        let Some(live) = self.served.live() else {
            self.metrics.unavailable(on);
            return None;
        };
        let verdict = if let Some(journal) = &self.journal {
            // The journal writes the reasons' texts and the source: resolved with the
            // very index that answered, whatever reload comes meanwhile.
            let described = live.describe(imei, imsi, None);
            let verdict = described.verdict;
            let mut s = Sighting::described(imei, described);
            s.imsi = imsi.copied();
            s.msisdn = msisdn;
            journal.record(&s);
            verdict
        } else {
            match imsi {
                Some(imsi) => live.check_with_imsi(imei, imsi),
                None => live.check(imei),
            }
        };
        self.metrics.check(on, &verdict);
        Some(self.answer(verdict))
    }

    /// Equipment that is not an IMEI (a MAC or EUI-64 PEI, a 3GPP2 MEID): unknown, by the
    /// policy; counted, not journaled (the journal keys on IMEIs).
    pub fn not_an_imei(&self, on: Interface) -> Option<Answer> {
        if !self.ready() {
            self.metrics.unavailable(on);
            return None;
        }
        let verdict = Verdict::unknown();
        self.metrics.check(on, &verdict);
        Some(self.answer(verdict))
    }

    fn answer(&self, verdict: Verdict) -> Answer {
        let status = match (verdict.status(), self.unknown) {
            (Some(s), _) | (None, UnknownPolicy::Answer(s)) => Some(s),
            (None, UnknownPolicy::NotFound) => None,
        };
        Answer { verdict, status }
    }
}

impl Answer {
    /// The answer as a verdict for a protocol codec that answers from one (S13): the
    /// verdict itself, or for unknown equipment under a policy, a verdict of that status.
    pub fn as_verdict(&self) -> Verdict {
        match (self.verdict.is_listed(), self.status) {
            (false, Some(s)) => Verdict::listed(RuleKind::Imei, &Entry::new(s)),
            _ => self.verdict,
        }
    }
}
