//! Compatibility: index files written by earlier versions keep opening and answering the same.
//!
//! The files in `tests/fixtures/format-v1/` were written by format version 1 (imei-index
//! 0.1.0), from the lists beside them:
//!
//! * `national.csv`: a list with every rule kind, every status, reasons, dates, duplicate
//!   targets, nested, overlapping and equally wide ranges, and the extreme IMEIs;
//! * `national.imeiidx`: built from it with serial 20240521 and the default filter;
//! * `nofilter.imeiidx`: the same rules with no filter section (filter bits 0);
//! * `delta.csv`: a delta list over `national.csv` (adds, changes and removes of every kind);
//! * `delta.imeiidx`: the delta index built from it, serial 20240522 for base 20240521.
//!
//! The policy these tests make executable (docs/compatibility.md):
//!
//! * These files must **never be regenerated or edited**, not even when a test here fails:
//!   they stand for files that deployed writers produced, and a reader that no longer opens
//!   them, or answers them differently, is what the failure reports. Fix the reader.
//! * Every later version must open them, at every verification level, and answer exactly as
//!   the plain model below answers over the lists (no expected verdict is written down
//!   here; the model computes them from the CSV files).
//! * When the format gains a version, add a new `format-vN/` directory beside this one, with
//!   files that version writes and a test like this one, instead of touching this one.
//!
//! Answers are compared, never bytes: a later writer may build a different file from the
//! same list (see `todays_build_answers_as_the_fixtures`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::BufReader;
use std::path::PathBuf;

use imei_index::list::{DeltaReader, ListReader};
use imei_index::{
    Apply, Change, Date, Delta, Entry, ErrorChain, FormatError, Imei, Imsi, Index, IndexBuilder,
    LayeredIndex, OpenOptions, Reason, Rule, RuleCounts, RuleKind, Section, Status, Target,
    Verdict, Verification,
};

/// The serial `national.imeiidx` and `nofilter.imeiidx` were built with.
const SERIAL: u64 = 20240521;
/// The serial `delta.imeiidx` brings its base to.
const DELTA_SERIAL: u64 = 20240522;
/// The format version that wrote the fixtures: not `FORMAT_VERSION`, which later versions
/// raise.
const FIXTURE_FORMAT: u32 = 1;
/// The full indexes among the fixtures, and whether they have a filter section.
const FULL_INDEXES: [(&str, bool); 2] = [("national.imeiidx", true), ("nofilter.imeiidx", false)];
const LEVELS: [Verification; 3] = [
    Verification::Trusted,
    Verification::Checksums,
    Verification::Full,
];
/// An IMSI that no list pairs with anything.
const UNLISTED_IMSI: &str = "404685505601299";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/format-v1")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture(name);
    fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn open_list(name: &str) -> BufReader<File> {
    let path = fixture(name);
    BufReader::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The rules of `national.csv`, as listed (duplicates included).
fn national_rows() -> Vec<Rule> {
    ListReader::new("national.csv", open_list("national.csv"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The changes of `delta.csv`, in order.
fn delta_rows() -> Vec<Change> {
    DeltaReader::new("delta.csv", open_list("delta.csv"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The order in which entries for one target are resolved: the greatest wins (the most
/// severe status, then the latest date, then the greater reason code).
fn precedence(e: &Entry) -> (Status, Option<Date>, Option<Reason>) {
    (e.status, e.date, e.reasons.code())
}

/// The reference: a list's rules, one per target, checked by scanning them.
///
/// The precedence, as tests/model.rs and the README state it: the pair rule for (IMEI,
/// IMSI), else the exact IMEI rule, else the narrowest containing range (equally wide: the
/// greater precedence, then the earlier start), else the TAC rule, else unknown.
#[derive(Clone, Debug, Default)]
struct Model {
    rules: BTreeMap<Target, Entry>,
    /// Today's semantics (docs/semantics.md) instead of format 1's: duplicates merge to the
    /// greater reasons compared as texts (format 1: the greater reason code), and between
    /// equally wide ranges of equal status and date the earlier start wins (format 1: the
    /// greater reason code, then the earlier start). Files written by format 1 answer as
    /// they were written; files written today (a build, an apply) answer today's way.
    today: bool,
}

impl Model {
    /// The rules of a list, duplicates of a target merged to the greatest entry.
    fn of_list(rows: &[Rule]) -> Model {
        let mut rules: BTreeMap<Target, Entry> = BTreeMap::new();
        for r in rows {
            let e = rules.entry(r.target()).or_insert(r.entry.clone());
            if precedence(&r.entry) > precedence(e) {
                *e = r.entry.clone();
            }
        }
        Model {
            rules,
            today: false,
        }
    }

    /// The rules of a list as today's builds merge them.
    fn of_list_today(rows: &[Rule]) -> Model {
        let key = |e: &Entry| (e.status, e.date, e.reasons.clone());
        let mut rules: BTreeMap<Target, Entry> = BTreeMap::new();
        for r in rows {
            let e = rules.entry(r.target()).or_insert(r.entry.clone());
            if key(&r.entry) > key(e) {
                *e = r.entry.clone();
            }
        }
        Model { rules, today: true }
    }

    /// The model with a delta list's changes applied in order: the last change to a target
    /// sets its rule (add, change) or removes it (remove).
    fn with_changes(&self, changes: &[Change]) -> Model {
        let mut m = self.clone();
        for c in changes {
            match c {
                Change::Add(r) | Change::Change(r) => {
                    m.rules.insert(r.target(), r.entry.clone());
                }
                Change::Remove(t, _, _) => {
                    m.rules.remove(t);
                }
            }
        }
        m
    }

    /// The rules in `Index::rules` order: kind by kind, each in key order (which is the
    /// order of `Target`).
    fn rules(&self) -> Vec<Rule> {
        self.rules
            .iter()
            .map(|(t, e)| Rule::new(*t, e.clone()).expect("ranges of a list are in order"))
            .collect()
    }

    fn check(&self, imei: Imei, imsi: Option<Imsi>) -> Verdict {
        if let Some(s) = imsi
            && let Some(e) = self.rules.get(&Target::Pair(imei, s))
        {
            return Verdict::listed(RuleKind::Pair, e);
        }
        if let Some(e) = self.rules.get(&Target::Imei(imei)) {
            return Verdict::listed(RuleKind::Imei, e);
        }
        let mut best: Option<(u64, u64, Entry)> = None;
        for (t, e) in &self.rules {
            let Target::Range(a, b) = *t else { continue };
            if !(a <= imei && imei <= b) {
                continue;
            }
            let width = b.as_u64() - a.as_u64();
            let better = match &best {
                None => true,
                Some((w, start, be)) if self.today => {
                    let rank = |e: &Entry| (e.status, e.date);
                    width < *w
                        || (width == *w && rank(e) > rank(be))
                        || (width == *w && rank(e) == rank(be) && a.as_u64() < *start)
                }
                Some((w, start, be)) => {
                    width < *w
                        || (width == *w && precedence(e) > precedence(be))
                        || (width == *w && precedence(e) == precedence(be) && a.as_u64() < *start)
                }
            };
            if better {
                best = Some((width, a.as_u64(), e.clone()));
            }
        }
        if let Some((_, _, e)) = best {
            return Verdict::listed(RuleKind::Range, &e);
        }
        if let Some(e) = self.rules.get(&Target::Tac(imei.tac())) {
            return Verdict::listed(RuleKind::Tac, e);
        }
        Verdict::unknown()
    }

    fn counts(&self) -> BTreeMap<(RuleKind, Status), u64> {
        let mut c: BTreeMap<(RuleKind, Status), u64> = RuleKind::ALL
            .into_iter()
            .flat_map(|k| Status::ALL.map(|s| ((k, s), 0)))
            .collect();
        for (t, e) in &self.rules {
            *c.get_mut(&(t.kind(), e.status))
                .expect("every kind and status") += 1;
        }
        c
    }

    fn distinct_entries(&self) -> usize {
        self.rules
            .values()
            .map(|e| (e.status.s13_code(), e.reasons.code(), e.date))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The IMSIs that pair rules name.
    fn imsis(&self) -> BTreeSet<Imsi> {
        self.rules
            .keys()
            .filter_map(|t| match t {
                Target::Pair(_, s) => Some(*s),
                _ => None,
            })
            .collect()
    }
}

fn counts_of(c: &RuleCounts) -> BTreeMap<(RuleKind, Status), u64> {
    RuleKind::ALL
        .into_iter()
        .flat_map(|k| Status::ALL.map(|s| ((k, s), c.get(k, s))))
        .collect()
}

/// A seeded SplitMix64, so that the random probes are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn imei_at(n: i128) -> Option<Imei> {
    u64::try_from(n).ok().and_then(|n| Imei::from_u64(n).ok())
}

/// What to ask an index, and what the model answers.
struct Probes {
    imeis: Vec<Imei>,
    imsis: Vec<Imsi>,
    /// The model's verdict for each IMEI alone.
    plain: Vec<Verdict>,
    /// The model's verdict for each IMSI (outer) and IMEI (inner).
    paired: Vec<Vec<Verdict>>,
}

impl Probes {
    /// Every listed IMEI, range end and TAC end ±1 (of both models, so that a base and its
    /// layered view are probed alike), IMEI 0 and the greatest, and random IMEIs of the
    /// listed TACs: 3,000 anywhere in them and 1,000 near listed IMEIs.
    fn new(model: &Model, also: &Model) -> Probes {
        let mut points: Vec<u64> = vec![0, Imei::MAX.as_u64()];
        let mut tacs = BTreeSet::new();
        for t in model.rules.keys().chain(also.rules.keys()) {
            match *t {
                Target::Pair(i, _) | Target::Imei(i) => points.push(i.as_u64()),
                Target::Range(a, b) => points.extend([a.as_u64(), b.as_u64()]),
                Target::Tac(t) => points.extend([t.first_imei().as_u64(), t.last_imei().as_u64()]),
            }
            let i = match *t {
                Target::Pair(i, _) | Target::Imei(i) | Target::Range(i, _) => i,
                Target::Tac(t) => t.first_imei(),
            };
            tacs.insert(i.tac());
        }
        let mut imeis: Vec<Imei> = points
            .iter()
            .flat_map(|&p| [-1i128, 0, 1].map(|d| imei_at(i128::from(p) + d)))
            .flatten()
            .collect();
        let tacs: Vec<_> = tacs.into_iter().collect();
        let mut rng = Rng(0x00C0_FFEE_2024_0521);
        for _ in 0..3_000 {
            let t = tacs[rng.below(tacs.len() as u64) as usize];
            imeis.push(Imei::from_u64(t.first_imei().as_u64() + rng.below(1_000_000)).unwrap());
        }
        for _ in 0..1_000 {
            let p = points[rng.below(points.len() as u64) as usize];
            imeis.extend(imei_at(i128::from(p) + i128::from(rng.below(201)) - 100));
        }
        imeis.sort_unstable();
        imeis.dedup();
        let mut imsis: Vec<Imsi> = model.imsis().union(&also.imsis()).copied().collect();
        imsis.push(Imsi::parse(UNLISTED_IMSI).unwrap());
        let plain = imeis.iter().map(|&i| model.check(i, None)).collect();
        let paired = imsis
            .iter()
            .map(|&s| imeis.iter().map(|&i| model.check(i, Some(s))).collect())
            .collect();
        let probes = Probes {
            imeis,
            imsis,
            plain,
            paired,
        };
        // The probes meet every kind of rule, and unlisted IMEIs.
        let kinds: BTreeSet<Option<RuleKind>> = probes
            .plain
            .iter()
            .chain(probes.paired.iter().flatten())
            .map(Verdict::rule)
            .collect();
        assert_eq!(kinds.len(), RuleKind::ALL.len() + 1, "{kinds:?}");
        probes
    }

    /// How many probes (IMEI alone, then with each IMSI) each kind of rule answers.
    fn by_kind(&self) -> BTreeMap<Option<RuleKind>, usize> {
        let mut m = BTreeMap::new();
        for v in self.plain.iter().chain(self.paired.iter().flatten()) {
            *m.entry(v.rule()).or_default() += 1;
        }
        m
    }

    /// Asserts that an index answers every probe as the model does, through `check`,
    /// `check_many` and `check_with_imsi`; returns the number of answers compared.
    fn assert_answers(&self, what: &str, index: &impl Answers) -> usize {
        let many = index.check_many(&self.imeis);
        assert_eq!(many.len(), self.imeis.len(), "{what}: check_many");
        for (k, &imei) in self.imeis.iter().enumerate() {
            let want = self.plain[k];
            assert_eq!(index.check(imei), want, "{what}: check({imei})");
            assert_eq!(many[k], want, "{what}: check_many at {imei}");
        }
        for (s, want) in self.imsis.iter().zip(&self.paired) {
            for (k, &imei) in self.imeis.iter().enumerate() {
                assert_eq!(
                    index.check_with_imsi(imei, s),
                    want[k],
                    "{what}: check_with_imsi({imei}, {s})"
                );
            }
        }
        self.imeis.len() * (2 + self.imsis.len())
    }
}

/// What the compared kinds of index answer.
trait Answers {
    fn check(&self, imei: Imei) -> Verdict;
    fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict;
    fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict>;
}

impl Answers for Index {
    fn check(&self, imei: Imei) -> Verdict {
        Index::check(self, imei)
    }
    fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        Index::check_with_imsi(self, imei, imsi)
    }
    fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        Index::check_many(self, imeis)
    }
}

impl Answers for LayeredIndex {
    fn check(&self, imei: Imei) -> Verdict {
        LayeredIndex::check(self, imei)
    }
    fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        LayeredIndex::check_with_imsi(self, imei, imsi)
    }
    fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        LayeredIndex::check_many(self, imeis)
    }
}

/// A full-index fixture opened every way there is: from its file and from its bytes, at
/// every verification level, and with the defaults.
fn every_opening(name: &str) -> Vec<(String, Index)> {
    let path = fixture(name);
    let bytes = read_fixture(name);
    let mut out = Vec::new();
    for level in LEVELS {
        let mut o = OpenOptions::new();
        o.verification(level);
        let fail = |e: imei_index::Error| panic!("{name} at {level:?}: {}", ErrorChain(&e));
        out.push((
            format!("{name} opened at {level:?}"),
            o.open(&path).unwrap_or_else(fail),
        ));
        out.push((
            format!("{name} from bytes at {level:?}"),
            o.open_bytes(bytes.clone().into()).unwrap_or_else(fail),
        ));
    }
    let fail = |e: imei_index::Error| panic!("{name}: {}", ErrorChain(&e));
    out.push((
        format!("{name} by Index::open"),
        Index::open(&path).unwrap_or_else(fail),
    ));
    out.push((
        format!("{name} by Index::from_bytes"),
        Index::from_bytes(bytes.into()).unwrap_or_else(fail),
    ));
    out
}

/// The delta fixture opened every way there is.
fn every_delta_opening() -> Vec<(String, Delta)> {
    let path = fixture("delta.imeiidx");
    let fail = |e: imei_index::Error| panic!("delta.imeiidx: {}", ErrorChain(&e));
    let mut out: Vec<(String, Delta)> = LEVELS
        .into_iter()
        .map(|level| {
            (
                format!("delta.imeiidx opened at {level:?}"),
                Delta::open_with(&path, level).unwrap_or_else(fail),
            )
        })
        .collect();
    out.push((
        "delta.imeiidx by Delta::open".into(),
        Delta::open(&path).unwrap_or_else(fail),
    ));
    out.push((
        "delta.imeiidx by Delta::from_bytes".into(),
        Delta::from_bytes(read_fixture("delta.imeiidx").into()).unwrap_or_else(fail),
    ));
    out
}

#[test]
fn fixtures_answer_as_the_list_at_every_verification_level() {
    let model = Model::of_list(&national_rows());
    let probes = Probes::new(&model, &model);
    let mut answers = 0;
    for (name, _) in FULL_INDEXES {
        for (what, index) in every_opening(name) {
            answers += probes.assert_answers(&what, &index);
        }
    }
    println!(
        "{} IMEIs × {} IMSIs probed ({:?}); {answers} answers compared",
        probes.imeis.len(),
        probes.imsis.len(),
        probes.by_kind()
    );
}

#[test]
fn stats_and_rules_are_the_lists() {
    let model = Model::of_list(&national_rows());
    for (name, has_filter) in FULL_INDEXES {
        let file_len = read_fixture(name).len() as u64;
        for (what, index) in every_opening(name) {
            let stats = index.stats();
            assert_eq!(stats.format_version, FIXTURE_FORMAT, "{what}");
            assert_eq!(stats.serial, SERIAL, "{what}");
            assert_eq!(index.serial(), SERIAL, "{what}");
            assert_eq!(counts_of(&stats.counts), model.counts(), "{what}");
            assert_eq!(stats.rules(), model.rules.len() as u64, "{what}");
            assert_eq!(stats.file_bytes, file_len, "{what}");
            assert_eq!(
                stats.distinct_entries,
                model.distinct_entries() as u64,
                "{what}"
            );
            let sections: Vec<Section> = stats.section_bytes.iter().map(|s| s.0).collect();
            let mut want = vec![
                Section::Entries,
                Section::Imei,
                Section::Tac,
                Section::Pair,
                Section::Range,
                Section::Segments,
            ];
            if has_filter {
                want.push(Section::Filter);
            }
            assert_eq!(sections, want, "{what}");
            assert_eq!(index.rules().collect::<Vec<_>>(), model.rules(), "{what}");
        }
    }
}

#[test]
fn todays_build_answers_as_the_fixtures() {
    // Today's writer need not produce the fixtures' bytes: the format promises that files
    // keep answering the same, not that every version writes identical files (a later
    // writer may lay sections out differently, compress better or add optional sections).
    // So compare answers, rules and counts, never bytes.
    let rows = national_rows();
    let fixture_model = Model::of_list(&rows);
    let model = Model::of_list_today(&rows);
    let probes = Probes::new(&model, &model);
    let fixture_probes = Probes::new(&fixture_model, &fixture_model);
    let mut answers = 0;
    for (name, has_filter) in FULL_INDEXES {
        let mut b = IndexBuilder::new();
        b.serial(SERIAL);
        if !has_filter {
            b.filter_bits(0);
        }
        b.add_list(
            ListReader::new("national.csv", open_list("national.csv")),
            Err,
        )
        .unwrap_or_else(|e| panic!("building national.csv: {}", ErrorChain(&e)));
        let (bytes, summary) = b.build_to_vec().expect("building in memory");
        assert_eq!(summary.rules_in, rows.len() as u64);
        assert_eq!(summary.rules_written, model.rules.len() as u64);
        let today = OpenOptions::new()
            .verification(Verification::Full)
            .open_bytes(bytes.into())
            .expect("today's build passes full verification");
        let fixture = Index::open(fixture(name)).expect("the fixture opens");
        let what = format!("today's build of {name}");
        // Where today's semantics keep format 1's answers (every probe but ties between
        // reasons), today's build answers as the fixture.
        let mut same = 0;
        for (k, &i) in probes.imeis.iter().enumerate() {
            if probes.plain[k] == fixture_probes.plain.get(k).copied().unwrap_or_default() {
                assert_eq!(today.check(i), fixture.check(i), "{what}: check({i})");
                same += 1;
            }
        }
        assert!(
            same * 10 > probes.imeis.len() * 9,
            "{what}: {same} answers alike"
        );
        answers += probes.assert_answers(&what, &today);
        assert_eq!(today.stats().counts, fixture.stats().counts, "{what}");
        assert_eq!(today.serial(), fixture.serial(), "{what}");
        assert_eq!(today.rules().collect::<Vec<_>>(), model.rules(), "{what}");
    }
    println!("{answers} answers of today's builds compared");
}

#[test]
fn the_delta_fixture_layers_and_applies_as_the_lists() {
    let base_model = Model::of_list(&national_rows());
    let changes = delta_rows();
    let model = base_model.with_changes(&changes);
    // What an apply writes today answers today's way.
    let applied_model = Model {
        today: true,
        ..model.clone()
    };
    let applied_probes = Probes::new(&applied_model, &base_model);
    // What the delta itself holds: the last change to each target.
    let mut last: BTreeMap<Target, Option<Entry>> = BTreeMap::new();
    for c in &changes {
        let e = match c {
            Change::Add(r) | Change::Change(r) => Some(r.entry.clone()),
            Change::Remove(..) => None,
        };
        last.insert(c.target(), e);
    }
    let delta_rules = Model {
        rules: last
            .iter()
            .filter_map(|(t, e)| Some((*t, (*e).clone()?)))
            .collect(),
        today: false,
    };
    let probes = Probes::new(&model, &base_model);
    let mut answers = 0;

    for (i, (what, delta)) in every_delta_opening().into_iter().enumerate() {
        assert_eq!(delta.serial(), DELTA_SERIAL, "{what}");
        assert_eq!(delta.base_serial(), SERIAL, "{what}");
        assert_eq!(counts_of(&delta.rules()), delta_rules.counts(), "{what}");
        for kind in RuleKind::ALL {
            let removed = last
                .iter()
                .filter(|(t, e)| t.kind() == kind && e.is_none())
                .count();
            assert_eq!(delta.tombstones(kind), removed as u64, "{what}: {kind}");
        }
        // Every opening of the delta over national.imeiidx; the first over both indexes.
        let bases = if i == 0 {
            &FULL_INDEXES[..]
        } else {
            &FULL_INDEXES[..1]
        };
        for (name, _) in bases {
            let base = Index::open(fixture(name)).expect("the fixture opens");
            let what = format!("{what} over {name}");

            let view = LayeredIndex::new(base.clone(), vec![delta.clone()])
                .unwrap_or_else(|e| panic!("{what}: {}", ErrorChain(&e)));
            assert_eq!(view.serial(), DELTA_SERIAL, "{what}");
            answers += probes.assert_answers(&format!("{what}, layered"), &view);

            let (bytes, summary) = Apply::new(&base, std::slice::from_ref(&delta))
                .build_to_vec()
                .unwrap_or_else(|e| panic!("{what}: {}", ErrorChain(&e)));
            let next = OpenOptions::new()
                .verification(Verification::Full)
                .open_bytes(bytes.into())
                .unwrap_or_else(|e| panic!("{what}, applied: {}", ErrorChain(&e)));
            let what = format!("{what}, applied");
            assert_eq!(next.serial(), DELTA_SERIAL, "{what}");
            assert_eq!(summary.serial, DELTA_SERIAL, "{what}");
            assert_eq!(summary.rules_written, model.rules.len() as u64, "{what}");
            assert_eq!(counts_of(&next.stats().counts), model.counts(), "{what}");
            assert_eq!(next.rules().collect::<Vec<_>>(), model.rules(), "{what}");
            let in_base = |t: &Target| base_model.rules.get(t);
            let outcome = |f: &dyn Fn(&Target, &Option<Entry>) -> bool| {
                last.iter().filter(|(t, e)| f(t, e)).count() as u64
            };
            assert_eq!(
                (summary.added, summary.changed, summary.unchanged),
                (
                    outcome(&|t, e| e.is_some() && in_base(t).is_none()),
                    outcome(
                        &|t, e| e.is_some() && in_base(t).is_some_and(|b| Some(b.clone()) != *e)
                    ),
                    outcome(
                        &|t, e| e.is_some() && in_base(t).is_some_and(|b| Some(b.clone()) == *e)
                    ),
                ),
                "{what}: added, changed, unchanged"
            );
            assert_eq!(
                (summary.removed, summary.missing),
                (
                    outcome(&|t, e| e.is_none() && in_base(t).is_some()),
                    outcome(&|t, e| e.is_none() && in_base(t).is_none()),
                ),
                "{what}: removed, missing"
            );
            answers += applied_probes.assert_answers(&what, &next);
        }
    }
    println!(
        "{} IMEIs × {} IMSIs probed; {answers} layered and applied answers compared",
        probes.imeis.len(),
        probes.imsis.len()
    );
}

#[test]
fn every_fixture_opens_under_full_verification_and_a_delta_is_no_index() {
    for (name, _) in FULL_INDEXES {
        let bytes = read_fixture(name);
        assert_eq!(&bytes[..8], b"\x89IMEIDX\n", "{name}: magic");
        assert_eq!(
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
            FIXTURE_FORMAT,
            "{name}: format version"
        );
        OpenOptions::new()
            .verification(Verification::Full)
            .open(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {}", ErrorChain(&e)));
        // A full index is no delta.
        let e = Delta::open_with(fixture(name), Verification::Full).unwrap_err();
        assert_eq!(e.as_format(), Some(&FormatError::NotDelta), "{name}");
    }
    let delta = read_fixture("delta.imeiidx");
    assert_eq!(
        u32::from_le_bytes(delta[8..12].try_into().unwrap()),
        FIXTURE_FORMAT
    );
    Delta::open_with(fixture("delta.imeiidx"), Verification::Full)
        .unwrap_or_else(|e| panic!("delta.imeiidx: {}", ErrorChain(&e)));

    // A delta is refused as a full index, at every level, saying what it is.
    let mut refusals = vec![
        Index::open(fixture("delta.imeiidx")).unwrap_err(),
        Index::from_bytes(delta.clone().into()).unwrap_err(),
    ];
    for level in LEVELS {
        refusals.push(
            OpenOptions::new()
                .verification(level)
                .open(fixture("delta.imeiidx"))
                .unwrap_err(),
        );
    }
    for e in refusals {
        assert_eq!(e.as_format(), Some(&FormatError::IsDelta));
        let message = ErrorChain(&e).to_string();
        assert!(
            message.contains("this is a delta index") && message.contains("open it as a Delta"),
            "{message}"
        );
    }
}

/// Section ids that no version of the format assigns, standing for sections that a newer
/// writer adds (docs/compatibility.md): one optional, one required.
const NEWER_OPTIONAL_SECTION: u32 = 0xFFFF_FFFF;
const NEWER_REQUIRED_SECTION: u32 = 0x7FFF_FFFF;

/// `national.imeiidx` edited as a newer writer could have written it, and its header signed
/// again (the version-1 header: version at byte 8, section count at 128, 24-byte rows from
/// 136, then the crc32 of every byte before it).
fn national_edited(edit: impl FnOnce(&mut Vec<u8>, &[usize])) -> Vec<u8> {
    let mut b = read_fixture("national.imeiidx");
    let n = u32::from_le_bytes(b[128..132].try_into().unwrap()) as usize;
    let rows: Vec<usize> = (0..n).map(|i| 136 + 24 * i).collect();
    edit(&mut b, &rows);
    let crc_at = 136 + 24 * n;
    let crc = crc32fast::hash(&b[..crc_at]);
    b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    b
}

/// `national.imeiidx` with its filter section renamed to `id`.
fn national_with_filter_as(id: u32) -> Vec<u8> {
    national_edited(|b, rows| {
        let row = *rows
            .iter()
            .find(|&&at| b[at..at + 4] == 0x8000_0007u32.to_le_bytes())
            .expect("national.imeiidx has a filter section");
        b[row..row + 4].copy_from_slice(&id.to_le_bytes());
    })
}

#[test]
fn a_newer_writers_sections_are_ignored_when_optional_and_refused_when_required() {
    let model = Model::of_list(&national_rows());
    let probes = Probes::new(&model, &model);
    // An unknown optional section is skipped: the file opens at every level and answers the
    // same (here the filter, under a name this reader does not know, so it goes unused).
    let bytes = national_with_filter_as(NEWER_OPTIONAL_SECTION);
    for level in LEVELS {
        let index = OpenOptions::new()
            .verification(level)
            .open_bytes(bytes.clone().into())
            .unwrap_or_else(|e| panic!("{level:?}: {}", ErrorChain(&e)));
        let sections: Vec<Section> = index.stats().section_bytes.iter().map(|s| s.0).collect();
        assert!(!sections.contains(&Section::Filter), "{sections:?}");
        probes.assert_answers(
            &format!("an unknown optional section, at {level:?}"),
            &index,
        );
    }
    // An unknown required section makes the file unreadable at every level, loudly.
    let bytes = national_with_filter_as(NEWER_REQUIRED_SECTION);
    for level in LEVELS {
        let e = OpenOptions::new()
            .verification(level)
            .open_bytes(bytes.clone().into())
            .unwrap_err();
        assert!(
            matches!(e.as_format(), Some(FormatError::SectionTable { .. })),
            "{e:?}"
        );
        let message = ErrorChain(&e).to_string();
        let names = format!("unknown required section {NEWER_REQUIRED_SECTION}");
        assert!(
            message.contains(&names) && message.contains("from a newer writer"),
            "{message}"
        );
    }
    // A newer format version is refused, saying which version the file has and which the
    // reader reads.
    let newer = imei_index::FORMAT_VERSION + 1;
    let bytes = national_edited(|b, _| b[8..12].copy_from_slice(&newer.to_le_bytes()));
    for level in LEVELS {
        let e = OpenOptions::new()
            .verification(level)
            .open_bytes(bytes.clone().into())
            .unwrap_err();
        assert_eq!(
            e.as_format(),
            Some(&FormatError::Version { found: newer }),
            "{level:?}"
        );
        let message = ErrorChain(&e).to_string();
        assert!(
            message.contains(&format!("format version {newer}"))
                && message.contains(&format!("reads version {}", imei_index::FORMAT_VERSION)),
            "{message}"
        );
    }
}

/// The lists hold what the module documentation says they do, so that the tests above
/// exercise every part of the format.
#[test]
fn the_lists_cover_every_kind_status_and_precedence_case() {
    let rows = national_rows();
    let model = Model::of_list(&rows);
    for ((kind, status), n) in model.counts() {
        assert!(n > 0, "national.csv has no {status} {kind} rule");
    }
    assert!(rows.len() > model.rules.len(), "no duplicate targets");
    let entries: Vec<&Entry> = model.rules.values().collect();
    let reasons: BTreeSet<_> = entries.iter().filter_map(|e| e.reasons.code()).collect();
    assert!(reasons.len() >= 4, "few reasons: {reasons:?}");
    assert!(entries.iter().any(|e| e.reasons.code().is_none()));
    assert!(entries.iter().any(|e| e.date.is_some()));
    assert!(entries.iter().any(|e| e.date.is_none()));
    let ranges: Vec<(u64, u64)> = model
        .rules
        .keys()
        .filter_map(|t| match *t {
            Target::Range(a, b) => Some((a.as_u64(), b.as_u64())),
            _ => None,
        })
        .collect();
    let nested = |x: &(u64, u64), y: &(u64, u64)| x != y && y.0 <= x.0 && x.1 <= y.1;
    let overlapping_equal =
        |x: &(u64, u64), y: &(u64, u64)| x.0 < y.0 && y.0 <= x.1 && x.1 - x.0 == y.1 - y.0;
    assert!(ranges.iter().any(|x| ranges.iter().any(|y| nested(x, y))));
    assert!(
        ranges
            .iter()
            .any(|x| ranges.iter().any(|y| overlapping_equal(x, y)))
    );
    assert!(ranges.iter().any(|&(a, b)| a / 1_000_000 != b / 1_000_000));
    assert!(ranges.iter().any(|&(a, b)| a == b));
    assert!(
        model
            .rules
            .contains_key(&Target::Imei(Imei::from_u64(0).unwrap()))
            && model.rules.contains_key(&Target::Imei(Imei::MAX))
    );

    let changes = delta_rows();
    for kind in RuleKind::ALL {
        for op in ["add", "change", "remove"] {
            assert!(
                changes
                    .iter()
                    .any(|c| c.op() == op && c.target().kind() == kind),
                "delta.csv has no {op} of a {kind} rule"
            );
        }
    }
    let targets: BTreeSet<Target> = changes.iter().map(Change::target).collect();
    assert!(targets.len() < changes.len(), "no superseded change");
}
