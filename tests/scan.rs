//! The reverification scan against a simple model: a reference join that applies the
//! rules by their precedence, row by row, with no index, filter, chunks or threads.

use std::collections::{HashMap, HashSet};

use imei_index::scan::{Column, Header, ScanError, ScanOptions, ScanSummary, Scanner};
use imei_index::synth::{ConnectionLog, NationalList, Rng};
use imei_index::{
    Date, Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, RuleKind, Status, Tac, Target,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// The model

/// The rules, kept apart by kind, duplicates merged as the builder documents.
#[derive(Default)]
struct Model {
    pairs: HashMap<(Imei, Imsi), Entry>,
    imeis: HashMap<Imei, Entry>,
    tacs: HashMap<Tac, Entry>,
    ranges: HashMap<(Imei, Imei), Entry>,
}

/// The order of entries merged for one target (docs/semantics.md): the most severe status,
/// then the latest date, then the greater reasons, compared as texts.
fn precedence(e: &Entry) -> (Status, Option<Date>, imei_index::Reasons) {
    (e.status, e.date, e.reasons.clone())
}

fn merge<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Entry>, key: K, e: Entry) {
    let slot = map.entry(key).or_insert(e.clone());
    if precedence(&e) > precedence(slot) {
        *slot = e;
    }
}

impl Model {
    fn new(rules: &[Rule]) -> Model {
        let mut m = Model::default();
        for r in rules {
            match r.target() {
                Target::Pair(i, s) => merge(&mut m.pairs, (i, s), r.entry.clone()),
                Target::Imei(i) => merge(&mut m.imeis, i, r.entry.clone()),
                Target::Tac(t) => merge(&mut m.tacs, t, r.entry.clone()),
                Target::Range(a, b) => merge(&mut m.ranges, (a, b), r.entry.clone()),
            }
        }
        m
    }

    /// Pair > IMEI > narrowest range (then the greater entry, then the earlier start) > TAC.
    fn verdict(&self, imei: Imei, imsi: Option<Imsi>) -> Option<(RuleKind, Entry)> {
        if let Some(e) = imsi.and_then(|s| self.pairs.get(&(imei, s))) {
            return Some((RuleKind::Pair, e.clone()));
        }
        if let Some(e) = self.imeis.get(&imei) {
            return Some((RuleKind::Imei, e.clone()));
        }
        let narrowest = self
            .ranges
            .iter()
            .filter(|((a, b), _)| *a <= imei && imei <= *b)
            .min_by_key(|((a, b), e)| {
                (
                    b.as_u64() - a.as_u64(),
                    std::cmp::Reverse((e.status, e.date)),
                    *a,
                )
            });
        if let Some((_, e)) = narrowest {
            return Some((RuleKind::Range, e.clone()));
        }
        self.tacs
            .get(&imei.tac())
            .map(|e| (RuleKind::Tac, e.clone()))
    }
}

fn index_of(rules: &[Rule]) -> Index {
    let mut b = IndexBuilder::new();
    for r in rules {
        b.add(r.clone());
    }
    let (bytes, _) = b.build_to_vec().expect("the rules build");
    Index::from_bytes(bytes.into()).expect("the index opens")
}

/// The verdict columns a scan appends.
fn verdict_columns(kind: RuleKind, e: &Entry) -> String {
    format!(
        ",{},{},{},{}",
        e.status,
        e.reasons.code().map_or(String::new(), |r| r.to_string()),
        kind,
        e.date.map_or(String::new(), |d| d.to_string())
    )
}

/// What a scan is expected to give.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    out: String,
    rows: u64,
    matched: u64,
    unmatched: u64,
    not_imei: u64,
    malformed: u64,
    wrong_check_digit: u64,
    handsets: HashSet<Imei>,
    imsis: HashSet<Imsi>,
    msisdns: HashSet<String>,
    /// Line numbers of the rejected rows, in order.
    reject_lines: Vec<u64>,
    /// Whether the input has a line that is not blank, so that its columns are known.
    columns_known: bool,
}

impl Expected {
    fn assert_matches(&self, s: &ScanSummary, out: &[u8], rejects: &[u8], what: &str) {
        assert_eq!(String::from_utf8_lossy(out), self.out, "{what}: output");
        let counts = |rows, matched, unmatched, not_imei, malformed, wrong| {
            (rows, matched, unmatched, not_imei, malformed, wrong)
        };
        assert_eq!(
            counts(
                s.rows,
                s.matched,
                s.unmatched,
                s.not_imei,
                s.malformed,
                s.wrong_check_digit
            ),
            counts(
                self.rows,
                self.matched,
                self.unmatched,
                self.not_imei,
                self.malformed,
                self.wrong_check_digit
            ),
            "{what}: counts"
        );
        assert!(s.accounts_for_every_row(), "{what}: {s:?}");
        assert_eq!(s.handsets, self.handsets.len() as u64, "{what}: handsets");
        let distinct = |n: usize| self.columns_known.then_some(n as u64);
        assert_eq!(s.imsis, distinct(self.imsis.len()), "{what}: IMSIs");
        assert_eq!(s.msisdns, distinct(self.msisdns.len()), "{what}: MSISDNs");
        let rejects = String::from_utf8_lossy(rejects);
        let lines: Vec<u64> = rejects
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .map(|l| {
                let (_, rest) = l.split_once(':').expect("name:line:");
                rest.split(':')
                    .next()
                    .unwrap()
                    .parse()
                    .expect("a line number")
            })
            .collect();
        assert_eq!(lines, self.reject_lines, "{what}: rejected lines");
    }
}

fn scan_bytes(
    index: &Index,
    options: &ScanOptions,
    input: &[u8],
) -> (ScanSummary, Vec<u8>, Vec<u8>) {
    let mut scanner = Scanner::new(index, options).expect("valid options");
    let (mut out, mut rejects) = (Vec::new(), Vec::new());
    scanner
        .scan("log", input, &mut out, Some(&mut rejects))
        .expect("the scan runs");
    (scanner.summary(), out, rejects)
}

/// Every way to run a scan that must not change its result.
fn variants() -> Vec<(String, ScanOptions)> {
    let mut v = Vec::new();
    for threads in [1, 2, 3] {
        for prefilter in [true, false] {
            for chunk in [1usize, 97, 4096, 1 << 18] {
                let mut o = ScanOptions::new();
                o.threads(threads).prefilter(prefilter).chunk_size(chunk);
                v.push((
                    format!("threads {threads}, prefilter {prefilter}, chunks of {chunk}"),
                    o,
                ));
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// Generated logs against the model

/// The demo's national list, plus pair rules for some individually blocked handsets (each
/// allowed with one SIM) so that pair rules matter outside counterfeit TACs too.
fn list_with_more_pairs(seed: u64) -> NationalList {
    let mut list = NationalList::generate(seed);
    let mut rng = Rng::new(seed);
    for i in 0..50 {
        let imei = list.blocked[i * 97 % list.blocked.len()];
        let imsi = imei_index::synth::random_imsi(&mut rng);
        list.pairs.push((imei, imsi));
        list.rules
            .push(Rule::pair(imei, imsi, Entry::new(Status::Allowed)));
    }
    list
}

/// The reference join of a generated log (`imsi,msisdn,imei,time`, a header, no quotes).
fn reference_join(model: &Model, log: &str, statuses: &[Status]) -> Expected {
    let mut x = Expected {
        columns_known: true,
        ..Expected::default()
    };
    for (i, line) in log.lines().enumerate() {
        if i == 0 {
            x.out.push_str(line);
            x.out.push_str(",status,reason,rule,date\n");
            continue;
        }
        x.rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        let Ok(imei) = Imei::parse(f[2]) else {
            x.not_imei += 1;
            x.reject_lines.push(i as u64 + 1);
            continue;
        };
        let imsi = Imsi::parse(f[0]).ok();
        match model.verdict(imei, imsi) {
            Some((kind, e)) if statuses.contains(&e.status) => {
                x.matched += 1;
                x.out.push_str(line);
                x.out.push_str(&verdict_columns(kind, &e));
                x.out.push('\n');
                x.handsets.insert(imei);
                x.imsis.extend(imsi);
                x.msisdns.insert(f[1].to_string());
            }
            _ => x.unmatched += 1,
        }
    }
    x
}

#[test]
fn scan_equals_the_reference_join_on_a_generated_log() {
    let list = list_with_more_pairs(11);
    let index = index_of(&list.rules);
    let model = Model::new(&list.rules);
    let mut log = Vec::new();
    ConnectionLog {
        listed_share: 0.2,
        ..ConnectionLog::new(40_000, 11)
    }
    .write(&list, &mut log)
    .unwrap();
    let text = String::from_utf8(log.clone()).unwrap();
    for statuses in [
        &[Status::Blocked, Status::Tracked][..],
        &[Status::Allowed, Status::Blocked, Status::Tracked],
        &[Status::Allowed],
    ] {
        let expected = reference_join(&model, &text, statuses);
        // Every rule kind must be exercised, or the comparison proves little.
        let kinds: HashSet<&str> = expected
            .out
            .lines()
            .skip(1)
            .filter_map(|l| l.rsplit(',').nth(1))
            .collect();
        if statuses.len() == 3 {
            assert_eq!(kinds.len(), 4, "rule kinds matched: {kinds:?}");
            assert!(expected.not_imei > 0);
        }
        // Every way to run for one set of statuses; the default way for the others.
        let ways = if statuses.len() == 2 {
            variants()
                .into_iter()
                .filter(|(w, _)| !w.ends_with(" 1"))
                .collect()
        } else {
            vec![("default".to_string(), ScanOptions::new())]
        };
        for (what, mut options) in ways {
            options.statuses(statuses);
            let (s, out, rejects) = scan_bytes(&index, &options, &log);
            expected.assert_matches(&s, &out, &rejects, &format!("{statuses:?}, {what}"));
            assert_eq!(s.bytes, log.len() as u64);
            let blocked = expected
                .out
                .lines()
                .filter(|l| l.contains(",blocked,"))
                .count();
            if statuses.contains(&Status::Blocked) {
                assert_eq!(s.blocked, blocked as u64);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Random small logs, every row form, against the model

/// How a row writes its IMEI.
#[derive(Clone, Debug)]
enum ImeiForm {
    Fourteen,
    CheckDigit,
    WrongCheckDigit,
    Hyphens,
    ImeiSv,
    Pei,
    Quoted,
}

/// One line of a random log.
#[derive(Clone, Debug)]
enum Row {
    Connection {
        imsi: Option<usize>,
        msisdn: u8,
        imei: u64,
        form: ImeiForm,
        quoted_time: bool,
    },
    Blank,
    NotAnImei(&'static str),
    Unterminated,
    TextAfterQuote,
    TooFewFields,
}

const TACS: [u32; 3] = [35_000_001, 35_000_002, 86_000_003];
const SIMS: [&str; 3] = ["404680000000001", "404680000000002", "40468000000003"];

fn imei_in_universe(n: u64) -> Imei {
    let tac = Tac::from_u32(TACS[(n / 40) as usize % TACS.len()]).unwrap();
    Imei::from_parts(tac, (n % 40) as u32).unwrap()
}

fn entry() -> impl Strategy<Value = Entry> {
    (0..3u8, 0..3u8, 0..3u32).prop_map(|(s, r, d)| {
        let mut e = Entry::new(Status::from_s13_code(s).unwrap());
        if r > 0 {
            e = e.with_reason(Reason::from_code(r).unwrap());
        }
        if d > 0 {
            e = e.with_date(Date::from_days_since_epoch(19_000 + d).unwrap());
        }
        e
    })
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    let imei = (0..120u64).prop_map(imei_in_universe);
    let imsi = (0..SIMS.len()).prop_map(|i| Imsi::parse(SIMS[i]).unwrap());
    let rule = prop_oneof![
        (imei.clone(), entry()).prop_map(|(i, e)| Rule::imei(i, e)),
        (imei.clone(), imsi, entry()).prop_map(|(i, s, e)| Rule::pair(i, s, e)),
        (0..TACS.len(), entry()).prop_map(|(t, e)| Rule::tac(Tac::from_u32(TACS[t]).unwrap(), e)),
        (imei.clone(), 0..30u64, entry()).prop_map(|(a, len, e)| {
            let b = Imei::from_u64(a.as_u64() + len).unwrap();
            Rule::range(a, b, e).unwrap()
        }),
    ];
    proptest::collection::vec(rule, 0..25)
}

fn row() -> impl Strategy<Value = Row> {
    let form = prop_oneof![
        Just(ImeiForm::Fourteen),
        Just(ImeiForm::CheckDigit),
        Just(ImeiForm::WrongCheckDigit),
        Just(ImeiForm::Hyphens),
        Just(ImeiForm::ImeiSv),
        Just(ImeiForm::Pei),
        Just(ImeiForm::Quoted),
    ];
    prop_oneof![
        8 => (proptest::option::of(0..SIMS.len() + 1), 0..4u8, 0..120u64, form, any::<bool>())
            .prop_map(|(imsi, msisdn, imei, form, quoted_time)| Row::Connection {
                imsi, msisdn, imei, form, quoted_time,
            }),
        1 => Just(Row::Blank),
        1 => prop_oneof![Just(""), Just("3500000100001"), Just("35x0000100001"), Just("mac-00-11-22-33-44-55")]
            .prop_map(Row::NotAnImei),
        1 => prop_oneof![Just(Row::Unterminated), Just(Row::TextAfterQuote), Just(Row::TooFewFields)],
    ]
}

/// Writes a random log and computes, from the rows as generated, what the scan must give.
fn write_log(
    rows: &[Row],
    model: &Model,
    header: bool,
    crlf: &[bool],
    final_newline: bool,
    lenient: bool,
) -> (String, Expected) {
    let mut log = String::new();
    let mut x = Expected {
        columns_known: header || rows.iter().any(|r| !matches!(r, Row::Blank)),
        ..Expected::default()
    };
    let mut line_no = 0u64;
    if header {
        log.push_str("IMSI, msisdn ,Imei,time\n");
        x.out
            .push_str("IMSI, msisdn ,Imei,time,status,reason,rule,date\n");
        line_no += 1;
    }
    for (i, row) in rows.iter().enumerate() {
        line_no += 1;
        let reject = |x: &mut Expected, not_imei: bool| {
            x.rows += 1;
            if not_imei {
                x.not_imei += 1;
            } else {
                x.malformed += 1;
            }
            x.reject_lines.push(line_no);
        };
        let line = match row {
            Row::Blank => "  ".to_string(),
            Row::NotAnImei(f) => {
                reject(&mut x, true);
                format!("{},911,{f},t", SIMS[0])
            }
            Row::Unterminated => {
                reject(&mut x, false);
                format!("{},911,\"35000001000010,t", SIMS[0])
            }
            Row::TextAfterQuote => {
                reject(&mut x, false);
                format!("{},\"911\"x,35000001000010,t", SIMS[0])
            }
            Row::TooFewFields => {
                reject(&mut x, false);
                format!("{},911", SIMS[0])
            }
            Row::Connection {
                imsi,
                msisdn,
                imei,
                form,
                quoted_time,
            } => {
                let imei = imei_in_universe(*imei);
                let digits = format!("{:014}", imei.as_u64());
                let cd = imei.check_digit();
                let field = match form {
                    ImeiForm::Fourteen => digits.clone(),
                    ImeiForm::CheckDigit => format!("{digits}{cd}"),
                    ImeiForm::WrongCheckDigit => format!("{digits}{}", (cd + 1) % 10),
                    ImeiForm::Hyphens => {
                        format!("{}-{}-{}-{cd}", &digits[..2], &digits[2..8], &digits[8..])
                    }
                    ImeiForm::ImeiSv => format!("{digits}42"),
                    ImeiForm::Pei => format!("imei-{digits}{cd}"),
                    ImeiForm::Quoted => format!("\" {digits}{cd} \""),
                };
                // SIMS has one more index than names: a row with an IMSI field that is
                // not an IMSI.
                let imsi_text = match imsi {
                    None => "",
                    Some(s) if *s < SIMS.len() => SIMS[*s],
                    Some(_) => "not-a-sim",
                };
                let time = if *quoted_time {
                    "\"2024-05-14, 10:11\""
                } else {
                    "2024-05-14T10:11"
                };
                let line = format!("{imsi_text},+91{msisdn},{field} ,{time}");
                let wrong = matches!(form, ImeiForm::WrongCheckDigit);
                if wrong && !lenient {
                    reject(&mut x, true);
                } else {
                    x.rows += 1;
                    x.wrong_check_digit += u64::from(wrong);
                    let sim = imsi_text.parse::<Imsi>().ok();
                    match model.verdict(imei, sim) {
                        Some((kind, e)) if e.status != Status::Allowed => {
                            x.matched += 1;
                            x.out.push_str(&line);
                            x.out.push_str(&verdict_columns(kind, &e));
                            x.out.push('\n');
                            x.handsets.insert(imei);
                            x.imsis.extend(sim);
                            x.msisdns.insert(format!("91{msisdn}"));
                        }
                        _ => x.unmatched += 1,
                    }
                }
                line
            }
        };
        log.push_str(&line);
        let last = i + 1 == rows.len();
        if !last || final_newline {
            log.push_str(if crlf[i % crlf.len()] { "\r\n" } else { "\n" });
        }
    }
    (log, x)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the rules, rows, line ends, chunk sizes and threads, the scan writes the
    /// model's matches in input order, rejects exactly the bad rows at their lines, and
    /// counts every row once.
    #[test]
    fn scan_equals_the_model_on_random_logs(
        rules in rules(),
        rows in proptest::collection::vec(row(), 0..60),
        header in any::<bool>(),
        crlf in proptest::collection::vec(any::<bool>(), 1..4),
        final_newline in any::<bool>(),
        lenient in any::<bool>(),
        threads in 1usize..4,
        chunk in 1usize..200,
        prefilter in any::<bool>(),
    ) {
        let index = index_of(&rules);
        let model = Model::new(&rules);
        let (log, expected) = write_log(&rows, &model, header, &crlf, final_newline, lenient);
        let mut options = ScanOptions::new();
        options.threads(threads).chunk_size(chunk).prefilter(prefilter).lenient(lenient);
        if !header {
            options
                .header(Header::Absent)
                .imei_column(Column::At(2))
                .imsi_column(Some(Column::At(0)))
                .msisdn_column(Some(Column::At(1)));
        }
        let (s, out, rejects) = scan_bytes(&index, &options, log.as_bytes());
        expected.assert_matches(&s, &out, &rejects, &format!("{rows:?}, header {header}, log:\n{log:?}"));
    }
}

// ---------------------------------------------------------------------------------------
// The edges of the input

/// An index blocking one TAC, so that any IMEI of it matches.
fn tac_index() -> Index {
    index_of(&[Rule::tac(
        Tac::parse("35209900").unwrap(),
        Entry::new(Status::Blocked).with_reason(Reason::Stolen),
    )])
}

fn scan_text(text: &str) -> (ScanSummary, String, String) {
    let (s, out, rejects) = scan_bytes(&tac_index(), &ScanOptions::new(), text.as_bytes());
    assert!(s.accounts_for_every_row(), "{s:?}");
    (
        s,
        String::from_utf8(out).unwrap(),
        String::from_utf8(rejects).unwrap(),
    )
}

#[test]
fn empty_input_gives_nothing() {
    for text in ["", "\n", "\r\n", "  \n\n"] {
        let (s, out, rejects) = scan_text(text);
        assert_eq!((s.rows, s.bytes), (0, text.len() as u64), "{text:?}");
        assert_eq!((out.as_str(), rejects.as_str()), ("", ""), "{text:?}");
        assert_eq!(s.inputs, 1);
    }
}

#[test]
fn a_header_only_file_gives_the_header_and_no_rows() {
    for text in [
        "imsi,imei\n",
        "imsi,imei",
        "imsi,imei\r\n",
        "\u{feff}imsi,imei\n\n",
    ] {
        let (s, out, _) = scan_text(text);
        assert_eq!(s.rows, 0, "{text:?}");
        assert_eq!(out, "imsi,imei,status,reason,rule,date\n", "{text:?}");
    }
}

#[test]
fn the_last_row_counts_without_a_final_newline() {
    let (s, out, _) = scan_text("imei\n490154203237518\n352099001761481");
    assert_eq!((s.rows, s.matched, s.unmatched), (2, 1, 1));
    assert_eq!(
        out,
        "imei,status,reason,rule,date\n352099001761481,blocked,stolen,tac,\n"
    );
}

#[test]
fn crlf_line_ends_are_not_part_of_the_row() {
    let (s, out, _) = scan_text("imei,x\r\n352099001761481,a\r\n352099001761482\r\n");
    assert_eq!((s.rows, s.matched, s.malformed, s.not_imei), (2, 1, 0, 1));
    assert_eq!(
        out,
        "imei,x,status,reason,rule,date\n352099001761481,a,blocked,stolen,tac,\n"
    );
}

#[test]
fn quoted_fields_may_hold_delimiters_and_quotes() {
    let text = "time,imei,note\n\
                \"2024-05-14, 10:11\",\"35-209900-176148-1\",\"said \"\"hi\"\", left\"\n\
                \"2024-05-14, 10:12\", \"352099001761481\" ,x\n";
    let (s, out, _) = scan_text(text);
    assert_eq!((s.rows, s.matched), (2, 2));
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        rows,
        [
            "\"2024-05-14, 10:11\",\"35-209900-176148-1\",\"said \"\"hi\"\", left\",blocked,stolen,tac,",
            "\"2024-05-14, 10:12\", \"352099001761481\" ,x,blocked,stolen,tac,",
        ]
    );
}

#[test]
fn every_kind_of_bad_row_is_counted_and_written_aside_with_its_line() {
    let long = format!("1,{}", "9".repeat(2 << 20));
    let text = format!(
        "imsi,imei,time\n\
         1,352099001761481,ok\n\
         1,\"352099001761481,t\n\
         1,\"352099001761481\"x,t\n\
         1\n\
         1,,t\n\
         1,35209900176148X,t\n\
         1,3520990017614,t\n\
         1,352099001761482,t\n\
         1,mac-00-11-22-33-44-55,t\n\
         1,35209900\u{e9}76148,t\n\
         {long}\n\
         1,352099001761481,after\n"
    );
    let (s, out, rejects) = scan_text(&text);
    assert_eq!((s.rows, s.matched, s.unmatched), (12, 2, 0));
    assert_eq!((s.malformed, s.not_imei), (4, 6));
    let comments: Vec<&str> = rejects.lines().filter(|l| l.starts_with("# ")).collect();
    let expect = [
        ("log:3:", "column 3: a quoted field has no closing quote"),
        ("log:4:", "column 20: text follows a closing quote"),
        ("log:5:", "the row has 1 field, so no field 2"),
        ("log:6:", "field 2 is not an IMEI: the IMEI is empty"),
        ("log:7:", "character 'X' at position 15 is not a digit"),
        ("log:8:", "the IMEI has 13 digits"),
        ("log:9:", "the check digit is 2 but the Luhn check digit"),
        ("log:10:", "the PEI is a MAC address, not an IMEI"),
        ("log:11:", "character 'é' at position 9 is not a digit"),
        ("log:12:", "the line is 2097154 bytes long"),
    ];
    assert_eq!(comments.len(), expect.len(), "{rejects}");
    for (c, (place, what)) in comments.iter().zip(expect) {
        assert!(c.starts_with(&format!("# {place} ")), "{c}");
        assert!(c.contains(what), "{c} should say {what}");
    }
    // Each comment is followed by the row as read (an overlong one cut short).
    let rows: Vec<&str> = rejects.lines().filter(|l| !l.starts_with("# ")).collect();
    assert_eq!(rows[0], "1,\"352099001761481,t");
    assert_eq!(rows[8], "1,35209900\u{e9}76148,t");
    assert!(rows[9].len() < 1000 && long.starts_with(rows[9]));
    assert!(out.ends_with(",after,blocked,stolen,tac,\n"), "{out}");
}

#[test]
fn comments_are_not_rows_whatever_their_encoding_and_rejects_scan_again() {
    // Comment lines as list files have them: before the header (so that the header is still
    // found), between rows, indented, and in Windows-1252 or broken UTF-8. A rejected row
    // holding such bytes is written aside exactly as read.
    let log: &[u8] = b"\xef\xbb\xbf# export du 21/05, r\xe9vis\xe9\n\
                       \t # \xc3\x28\r\n\
                       imsi,imei,time\n\
                       1,352099001761481,a\n\
                       # between rows \xe9\n\
                       1,35209900176148\xe9,b\n\
                       1,490154203237518,c\n";
    for (what, options) in variants() {
        let (s, out, rejects) = scan_bytes(&tac_index(), &options, log);
        assert!(s.accounts_for_every_row(), "{what}: {s:?}");
        assert_eq!(
            (s.rows, s.matched, s.unmatched, s.not_imei),
            (3, 1, 1, 1),
            "{what}"
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "imsi,imei,time,status,reason,rule,date\n1,352099001761481,a,blocked,stolen,tac,\n",
            "{what}"
        );
        // Line numbers count the comment lines; the row is its bytes.
        let mut want = b"# log:6: field 2 is not an IMEI: ".to_vec();
        assert!(rejects.starts_with(&want), "{what}: {rejects:?}");
        want = b"\n1,35209900176148\xe9,b\n".to_vec();
        assert!(rejects.ends_with(&want), "{what}: {rejects:?}");

        // The rejects file scans again: its comments are not rows.
        let mut again = ScanOptions::new();
        again.header(Header::Absent).imei_column(Column::At(1));
        let (s, _, _) = scan_bytes(&tac_index(), &again, &rejects);
        assert_eq!((s.rows, s.not_imei), (1, 1), "{what}");
    }

    // With `#` as the delimiter, a line starting with it starts with an empty field.
    let mut hash = ScanOptions::new();
    hash.delimiter(b'#')
        .header(Header::Absent)
        .imei_column(Column::At(1));
    let (s, out, _) = scan_bytes(&tac_index(), &hash, b"#352099001761481\n");
    assert_eq!((s.rows, s.matched), (1, 1));
    assert_eq!(out, b"#352099001761481#blocked#stolen#tac#\n");
}

#[test]
fn an_overlong_line_is_skipped_whatever_the_chunk_size() {
    let long = "7".repeat((1 << 20) + 10);
    let text = format!("imei\n{long}\n352099001761481\n{long}");
    for chunk in [1000, 1 << 20, 4 << 20] {
        let mut o = ScanOptions::new();
        o.chunk_size(chunk).threads(2);
        let (s, out, rejects) = scan_bytes(&tac_index(), &o, text.as_bytes());
        assert_eq!(
            (s.rows, s.matched, s.malformed),
            (3, 1, 2),
            "chunks of {chunk}"
        );
        assert_eq!(
            out.len(),
            "imei,status,reason,rule,date\n352099001761481,blocked,stolen,tac,\n".len()
        );
        let rejects = String::from_utf8(rejects).unwrap();
        assert!(
            rejects.contains("# log:2: the line is 1048586 bytes long"),
            "{rejects}"
        );
        assert!(
            rejects.contains("# log:4: the line is 1048586 bytes long"),
            "{rejects}"
        );
    }
}

#[test]
fn columns_are_found_by_position_name_or_call_record_name() {
    let index = tac_index();
    let cdr = "recordType;servedIMSI;servedIMEI;servedMSISDN\n\
               1;404685505601234;352099001761481;+919876543210\n";
    let mut o = ScanOptions::new();
    o.delimiter(b';');
    let (s, out, _) = scan_bytes(&index, &o, cdr.as_bytes());
    assert_eq!((s.matched, s.imsis, s.msisdns), (1, Some(1), Some(1)));
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("recordType;servedIMSI;servedIMEI;servedMSISDN;status;reason;rule;date\n")
    );

    let tsv = "a\tb\tequipment\n404685505601234\tx\t352099001761481\n";
    let mut o = ScanOptions::new();
    o.delimiter(b'\t')
        .imei_column(Column::Named("Equipment".into()))
        .imsi_column(Some(Column::At(0)));
    let (s, _, _) = scan_bytes(&index, &o, tsv.as_bytes());
    assert_eq!((s.matched, s.imsis, s.msisdns), (1, Some(1), None));

    let bare = "404685505601234,352099001761481\n";
    let mut o = ScanOptions::new();
    o.imei_column(Column::At(1))
        .imsi_column(Some(Column::At(0)));
    let (s, _, _) = scan_bytes(&index, &o, bare.as_bytes());
    assert_eq!((s.rows, s.matched, s.imsis), (1, 1, Some(1)));
}

#[test]
fn an_input_that_does_not_say_where_the_imei_is_is_an_error() {
    let index = tac_index();
    let cases: [(&str, Column, &str); 3] = [
        (
            "352099001761481,x\n",
            Column::Auto,
            "the first row is not a header",
        ),
        (
            "imsi,device\n1,352099001761481\n",
            Column::Auto,
            "names no IMEI column",
        ),
        (
            "imsi,imei\n1,352099001761481\n",
            Column::Named("handset".into()),
            "no IMEI column named \"handset\"",
        ),
    ];
    for (text, column, message) in cases {
        let mut o = ScanOptions::new();
        o.imei_column(column);
        let mut scanner = Scanner::new(&index, &o).unwrap();
        let err = scanner
            .scan("in.csv", text.as_bytes(), &mut Vec::new(), None)
            .unwrap_err();
        assert!(matches!(err, ScanError::Columns { .. }), "{err:?}");
        assert!(err.to_string().starts_with("in.csv: "), "{err}");
        assert!(
            err.to_string().contains(message),
            "{err} should say {message}"
        );
    }
    for d in [b'"', b'\n', b'7', b'a', b'-', 0xe9] {
        let mut o = ScanOptions::new();
        o.delimiter(d);
        assert!(matches!(
            Scanner::new(&index, &o),
            Err(ScanError::Delimiter(_))
        ));
    }
}

#[test]
fn several_inputs_add_up_and_write_one_header() {
    let index = tac_index();
    let mut scanner = Scanner::new(&index, &ScanOptions::new()).unwrap();
    let mut out = Vec::new();
    for text in [
        "imei\n352099001761481\n",
        "imei\n352099001761482\n352099001761499\n",
    ] {
        scanner.scan("in", text.as_bytes(), &mut out, None).unwrap();
    }
    let s = scanner.summary();
    assert_eq!((s.inputs, s.rows, s.matched, s.not_imei), (2, 3, 2, 1));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "imei,status,reason,rule,date\n352099001761481,blocked,stolen,tac,\n352099001761499,blocked,stolen,tac,\n"
    );
}

#[test]
fn a_failing_input_is_a_read_error_and_keeps_the_counts_so_far() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("the disk is gone"));
            }
            self.0 -= 1;
            let row = b"imei\n352099001761481\n";
            let n = row.len().min(buf.len());
            buf[..n].copy_from_slice(&row[..n]);
            Ok(n)
        }
    }
    for threads in [1, 2] {
        let mut o = ScanOptions::new();
        o.threads(threads).chunk_size(1);
        let mut scanner = Scanner::new(&tac_index(), &o).unwrap();
        let err = scanner
            .scan("disk.csv", Failing(3), &mut Vec::new(), None)
            .unwrap_err();
        assert!(matches!(err, ScanError::Read { .. }), "{err:?}");
        assert!(
            imei_index::ErrorChain(&err)
                .to_string()
                .contains("could not read disk.csv: the disk is gone")
        );
    }
}

/// A notified handset: tracked until 2024-06-10, blocked from it.
fn dated_index(utc_offset: i32) -> Index {
    let mut b = IndexBuilder::new();
    let start: Date = "2024-06-10".parse().unwrap();
    b.add(Rule::imei(
        Imei::parse("35209900176148").unwrap(),
        Entry::new(Status::Blocked)
            .with_start(start)
            .with_date(start)
            .with_earlier(Status::Tracked)
            .unwrap(),
    ));
    imei_index::OpenOptions::new()
        .utc_offset(utc_offset)
        .open_bytes(b.build_to_vec().unwrap().0.into())
        .unwrap()
}

#[test]
fn each_row_is_checked_on_the_day_of_its_time() {
    let log = "imei,time\n\
               35209900176148,2024-06-09T12:00:00Z\n\
               35209900176148,2024-06-10T01:00:00Z\n\
               35209900176148,2024-06-09T19:00:00Z\n\
               35209900176148,2024-06-10\n\
               35209900176148,\n\
               35209900176148,yesterday\n";
    let mut options = ScanOptions::new();
    options.statuses(&[Status::Blocked, Status::Tracked]);
    // In UTC, and in India (UTC+05:30), where 19:00 UTC on 9 June is already 10 June.
    for (offset, third) in [(0, "tracked"), (19_800, "blocked")] {
        let (s, out, rejects) = scan_bytes(&dated_index(offset), &options, log.as_bytes());
        assert!(s.accounts_for_every_row(), "{s:?}");
        let text = String::from_utf8(out.clone()).unwrap();
        let statuses: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        // A row without a time is checked today, long after the start.
        assert_eq!(
            statuses,
            ["tracked", "blocked", third, "blocked", "blocked"],
            "at offset {offset}: {}",
            String::from_utf8_lossy(&out)
        );
        let rejects = String::from_utf8(rejects).unwrap();
        assert_eq!(s.rejected(), 1, "{rejects}");
        assert!(rejects.contains("field 2 is not a time"), "{rejects}");
    }
    // An index without dated rules reads no time column: the same rows, unchanged.
    let (s, _, _) = scan_bytes(&tac_index(), &options, log.as_bytes());
    assert_eq!(s.rejected(), 0);
}
