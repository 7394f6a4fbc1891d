//! Generated lists for the surfaces' tests against the reference model (reference.rs):
//! rules over a few IMEIs of two models, with several sources, reasons, dates, starts and
//! earlier statuses, the probes and days to check them on, and the rules as a list file.
//! Deterministic (a seed per list), so that a failure names its list; shared by the
//! command line's and the C API's tests (included with `#[path]`), which cannot use
//! proptest's strategies in tests/semantics.rs across processes and FFI as cheaply.
#![allow(dead_code)]

use super::reference::{self, Day, RefRule, RefStatus, RefTarget};

pub const SOURCES: [&str; 3] = ["dirbs/blacklist", "local", "operator"];
pub const REASONS: [&str; 3] = [
    "Duplicate IMEI detected",
    "IMEI in local stolen list",
    "stolen",
];
pub const IMSIS: [&str; 2] = ["404685505601234", "310150123456789"];
pub const TACS: [u32; 2] = [35_209_900, 35_209_901];
/// Days that dates and starts fall on, and the days checks are made on around them.
pub const DAYS: [Day; 3] = [19_860, 19_864, 19_870];
pub const STARTS: [Day; 3] = [19_862, 19_864, 19_866];
pub const CHECK_DAYS: [Day; 5] = [19_861, 19_863, 19_864, 19_865, 19_867];

/// A small deterministic generator (xorshift64*), so that a failure names its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn status(rng: &mut Rng) -> RefStatus {
    rng.pick(&[RefStatus::Allowed, RefStatus::Tracked, RefStatus::Blocked])
}

/// Rules over a few IMEIs of two models, so that rules of several sources for one target,
/// nested and equally wide ranges, and pairs beside IMEI rules are common.
pub fn rules(seed: u64) -> Vec<RefRule> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let n = 5 + rng.below(30);
    (0..n)
        .map(|_| {
            let imei = u64::from(rng.pick(&TACS)) * 1_000_000 + rng.below(8);
            let target = match rng.below(9) {
                0..=2 => RefTarget::Imei(imei),
                3 | 4 => RefTarget::Pair(imei, rng.pick(&IMSIS).to_string()),
                5..=7 => RefTarget::Range(imei, imei + rng.pick(&[0, 3, 7, 1_999_999])),
                _ => RefTarget::Tac(rng.pick(&TACS)),
            };
            let mut reasons: Vec<String> = REASONS
                .iter()
                .filter(|_| rng.chance(30))
                .map(|r| r.to_string())
                .collect();
            reasons.sort();
            let start = rng.chance(50).then(|| rng.pick(&STARTS));
            RefRule {
                target,
                source: rng.pick(&SOURCES).to_string(),
                status: status(&mut rng),
                reasons,
                date: rng.chance(60).then(|| rng.pick(&DAYS)),
                start,
                earlier: start.and_then(|_| rng.chance(50).then(|| status(&mut rng))),
            }
        })
        .collect()
}

pub fn day_text(d: Day) -> String {
    imei_index::Date::from_days_since_epoch(d as u32)
        .unwrap()
        .to_string()
}

pub fn status_text(s: RefStatus) -> &'static str {
    match s {
        RefStatus::Allowed => "allowed",
        RefStatus::Tracked => "tracked",
        RefStatus::Blocked => "blocked",
    }
}

/// The rules as a list file: `imei,status,reason,imsi,date,start,source`.
pub fn list_file(rules: &[RefRule]) -> String {
    let mut out = String::from("imei,status,reason,imsi,date,start,source\n");
    for r in rules {
        let (target, imsi) = match &r.target {
            RefTarget::Imei(i) => (format!("{i:014}"), String::new()),
            RefTarget::Pair(i, s) => (format!("{i:014}"), s.clone()),
            RefTarget::Range(a, b) => (format!("{a:014}..{b:014}"), String::new()),
            RefTarget::Tac(t) => (format!("{t:08}"), String::new()),
        };
        let status = match r.earlier {
            Some(e) => format!("{}>{}", status_text(e), status_text(r.status)),
            None => status_text(r.status).to_string(),
        };
        out.push_str(&format!(
            "{target},{status},{},{imsi},{},{},{}\n",
            r.reasons.join("|"),
            r.date.map(day_text).unwrap_or_default(),
            r.start.map(day_text).unwrap_or_default(),
            r.source
        ));
    }
    out
}

/// IMEIs to check: every listed IMEI and range end ±1, every TAC's first and last IMEI.
pub fn probes(rules: &[RefRule]) -> Vec<u64> {
    let mut points = std::collections::BTreeSet::new();
    for r in rules {
        let ends = match &r.target {
            RefTarget::Imei(i) | RefTarget::Pair(i, _) => vec![*i],
            RefTarget::Range(a, b) => vec![*a, *b],
            RefTarget::Tac(t) => vec![
                u64::from(*t) * 1_000_000,
                u64::from(*t) * 1_000_000 + 999_999,
            ],
        };
        for p in ends {
            points.extend([p - 1, p, p + 1]);
        }
    }
    points.into_iter().collect()
}

/// The rules a build keeps: one per source and target.
pub fn model(rules: &[RefRule]) -> Vec<RefRule> {
    reference::build(rules)
}

/// The TACs a generated TAC database may list: the rules' two and a third no rule names,
/// so that the TAC policy meets TACs with rules, without, listed and not.
pub const DB_TACS: [u32; 3] = [35_209_900, 35_209_901, 35_209_902];
/// Allocation days, around the policy's dates.
pub const ALLOCATED: [Day; 3] = [19_000, 19_863, 19_900];

/// A TAC database (TAC → allocation day, if any) and a TAC policy for a seed: each of
/// [`DB_TACS`] listed or not, and mostly a policy, with a date or not.
pub fn tac_db(
    seed: u64,
) -> (
    std::collections::BTreeMap<u32, Option<Day>>,
    Option<reference::RefTacPolicy>,
) {
    let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let mut db = std::collections::BTreeMap::new();
    for &t in &DB_TACS {
        if rng.chance(60) {
            let allocated = rng.chance(80).then(|| rng.pick(&ALLOCATED));
            db.insert(t, allocated);
        }
    }
    let policy = rng.chance(80).then(|| reference::RefTacPolicy {
        status: rng.pick(&[RefStatus::Tracked, RefStatus::Blocked]),
        allocated_after: rng.chance(50).then(|| rng.pick(&[19_862, 19_863])),
    });
    (db, policy)
}

/// A TAC database as GSMA's current export writes it (`|`-separated, dates DD-Mon-YYYY).
pub fn tac_db_file(db: &std::collections::BTreeMap<u32, Option<Day>>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut out = String::from(
        "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|\
         Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|\
         NFC|Bluetooth|WLAN|Device Type\n",
    );
    for (tac, allocated) in db {
        let date = allocated.map_or(String::new(), |d| {
            let t = day_text(d);
            let (y, m, dd) = (&t[0..4], &t[5..7], &t[8..10]);
            format!("{dd}-{}-{y}", MONTHS[m.parse::<usize>().unwrap() - 1])
        });
        out.push_str(&format!(
            "{tac:08}|Model {tac}|M{tac}|Maker {}|GSM 900|{date}|||||Brand|M{tac}|||||Smartphone\n",
            tac % 7
        ));
    }
    out
}

/// [`probes`], and the first and last IMEI of every TAC a database may list and of one
/// more.
pub fn probes_with_tacs(rules: &[RefRule]) -> Vec<u64> {
    let mut points: std::collections::BTreeSet<u64> = probes(rules).into_iter().collect();
    for t in DB_TACS.iter().chain([&35_209_903]) {
        points.extend([
            u64::from(*t) * 1_000_000,
            u64::from(*t) * 1_000_000 + 999_999,
        ]);
    }
    points.into_iter().collect()
}
