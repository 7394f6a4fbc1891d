//! `imei-index demo`: the main job on a built-in synthetic list, start to finish.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::list::ListReader;
use imei_index::list::dirbs::FileName;
use imei_index::register::{DeltaImport, Import, RegisterOptions};
use imei_index::scan::{ScanOptions, Scanner};
use imei_index::synth::{self, ConnectionLog, NationalList, Rng};
use imei_index::{
    Apply, Date, Entry, Imei, Index, IndexBuilder, Merge, OpenOptions, Rule, Source, Status,
    Verdict, Verification,
};

use super::{CliResult, Failure, OutFile, Outcome, bytes, count};

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seed of the synthetic list: the same seed gives the same list and answers.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Keep the list and index in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// How many checks to time.
    #[arg(long, default_value_t = 1_000_000)]
    checks: usize,
    /// How many connections the synthetic log for the re-verification scan holds (the
    /// default is the order's shape: about 2 million numbers seen with listed handsets).
    #[arg(long, default_value_t = ConnectionLog::ORDER_ROWS)]
    connections: u64,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let temp;
    let dir: &Path = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| Failure::new(format!("could not create {}: {e}", d.display())))?;
            d
        }
        None => {
            temp = tempfile::tempdir().map_err(|e| {
                Failure::new(format!("could not create a temporary directory: {e}"))
            })?;
            temp.path()
        }
    };
    println!("imei-index demo: a synthetic national blocklist shaped like India's May 2024 order");
    println!("(28,200 handsets used in cyber-crime, blocked on every operator's EIR)\n");

    let list = NationalList::generate(args.seed);
    let list_path = dir.join("national.csv");
    write_list(&list, &list_path)?;
    println!("1. The list: {}", list_path.display());
    println!(
        "   {} handsets blocked one by one (fraud, stolen, lost)",
        count(list.blocked.len() as u64)
    );
    println!(
        "   {} counterfeit models (TACs) blocked whole",
        list.blocked_tacs.len()
    );
    println!(
        "   {} batches of duplicated IMEIs under IMEI ranges",
        list.ranges.len()
    );
    println!(
        "   {} genuine handsets inside counterfeit TACs, allowed with their own SIM only\n",
        list.pairs.len()
    );

    let index_path = dir.join("national.imeiidx");
    println!("2. The index: {}", index_path.display());
    let started = Instant::now();
    let mut builder = IndexBuilder::new();
    builder.serial(20240521);
    let file = File::open(&list_path)
        .map_err(|e| Failure::new(format!("could not open {}: {e}", list_path.display())))?;
    builder.add_list(
        ListReader::new(list_path.display().to_string(), BufReader::new(file)),
        Err,
    )?;
    let summary = builder.build_to_file(&index_path)?;
    super::build::print_summary(
        &summary,
        &index_path,
        1,
        started.elapsed().as_secs_f64(),
        "   ",
    );
    let t = Instant::now();
    let index = Index::open(&index_path)?;
    let verified_open = t.elapsed();
    let t = Instant::now();
    let trusted = OpenOptions::new()
        .verification(Verification::Trusted)
        .open(&index_path)?;
    let trusted_open = t.elapsed();
    drop(trusted);
    println!(
        "   opened (memory-mapped) in {:.0} µs with checksums verified, {:.0} µs trusted\n",
        verified_open.as_secs_f64() * 1e6,
        trusted_open.as_secs_f64() * 1e6
    );

    println!("3. Checks");
    checks(&index, &list, args.seed)?;

    println!("\n4. Speed");
    speed(&index, &list, args.checks.max(1), args.seed)?;

    println!("\n5. Re-verification: the connections seen with listed handsets");
    reverify(&index, &list, dir, args.connections, args.seed)?;

    println!(
        "\n6. A national register's files (DIRBS): a run, the next day's delta, and the operator's own list"
    );
    register(&list, dir, args.seed)?;
    Ok(Outcome::Success)
}

/// Writes one register file.
fn write_file(dir: &Path, name: &str, header: &str, rows: &[String]) -> Result<PathBuf, Failure> {
    let path = dir.join(name);
    let mut w = OutFile::create(&path)?;
    // The register writes CRLF line ends.
    write!(w, "{header}\r\n")?;
    for r in rows {
        write!(w, "{r}\r\n")?;
    }
    w.commit()?;
    Ok(path)
}

/// A DIRBS day as YYYYMMDD.
fn compact(d: Date) -> String {
    let (y, m, dd) = d.to_ymd();
    format!("{y:04}{m:02}{dd:02}")
}

/// The register's part: a run's blacklist, notifications and exceptions (run 57), built
/// into an index; the operator's own block merged in as another source; the next day's
/// deltas (run 57 to 58) applied; then checks on either side of a block date.
fn register(list: &NationalList, dir: &Path, seed: u64) -> Result<(), Failure> {
    // Beside the demo's other files, named as the register names them.
    let reg = dir.to_path_buf();
    let mut rng = Rng::new(seed ^ 0x5eed);
    let day = |s: &str| s.parse::<Date>().expect("a day");
    let run_day = day("2024-06-01");
    let reasons = [
        "Duplicate IMEI detected",
        "IMEI in local stolen list",
        "Duplicate IMEI detected|IMEI in local stolen list",
        "TAC not found in GSMA TAC database",
        "\"Not on registration list, flagged by the operator\"",
    ];
    // The blacklist: 2,000 of the order's handsets, blocked over the past two years.
    let blacklisted: Vec<Imei> = list
        .blocked
        .iter()
        .step_by(14)
        .take(2_000)
        .copied()
        .collect();
    let rows: Vec<String> = blacklisted
        .iter()
        .map(|i| {
            let since =
                Date::from_days_since_epoch(run_day.days_since_epoch() - 1 - rng.below(730) as u32)
                    .expect("a day");
            let r = reasons[rng.below(reasons.len() as u64) as usize];
            format!("{:014},{},{r}", i.as_u64(), compact(since))
        })
        .collect();
    let stamp = "20240601_020000";
    let bl = write_file(
        &reg,
        &format!("{stamp}_blacklist.csv"),
        "imei,block_date,reasons",
        &rows,
    )?;
    // Notifications: 300 handsets newly meeting a condition, each with its subscriber, to
    // be blocked within three weeks; the first on 2024-06-05.
    let notified: Vec<(Imei, imei_index::Imsi, u64, Date)> = (0..300u32)
        .map(|k| {
            let imei = Imei::from_parts(
                list.blocked_tacs[k as usize % list.blocked_tacs.len()],
                900_000 + k,
            )
            .expect("an IMEI");
            let block = Date::from_days_since_epoch(run_day.days_since_epoch() + 4 + k % 21)
                .expect("a day");
            (
                imei,
                synth::random_imsi(&mut rng),
                919_800_000_000 + u64::from(k),
                block,
            )
        })
        .collect();
    let rows: Vec<String> = notified
        .iter()
        .map(|(i, s, m, d)| {
            format!(
                "{:014},{s},{m},{},Duplicate IMEI detected",
                i.as_u64(),
                compact(*d)
            )
        })
        .collect();
    let nt = write_file(
        &reg,
        &format!("{stamp}_notifications_op1.csv"),
        "imei,imsi,msisdn,block_date,reasons",
        &rows,
    )?;
    // Exceptions: 50 blacklisted handsets paired with their owner's SIM.
    let excepted: Vec<(Imei, imei_index::Imsi)> = blacklisted
        .iter()
        .skip(100)
        .take(50)
        .map(|&i| (i, synth::random_imsi(&mut rng)))
        .collect();
    let rows: Vec<String> = excepted
        .iter()
        .enumerate()
        .map(|(k, (i, s))| format!("{:014},{s},9198100{k:05}", i.as_u64()))
        .collect();
    let ex = write_file(
        &reg,
        &format!("{stamp}_exceptions_op1.csv"),
        "imei,imsi,msisdn",
        &rows,
    )?;
    println!("   {}", reg.join(format!("{stamp}_*.csv")).display());
    println!(
        "   run 57 of {stamp}: a blacklist of {} handsets, {} notified handsets with their subscribers, {} exception pairs",
        count(blacklisted.len() as u64),
        count(notified.len() as u64),
        count(excepted.len() as u64)
    );

    let national = dir.join("register.imeiidx");
    let mut builder = IndexBuilder::new();
    builder.serial(20240601);
    let mut import = Import::new(RegisterOptions::new());
    for path in [&bl, &nt, &ex] {
        let name = path.display().to_string();
        let file = FileName::parse(&name).map_err(Failure::new)?;
        let reader = BufReader::new(
            File::open(path).map_err(|e| Failure::new(format!("could not open {name}: {e}")))?,
        );
        import.add_file(&mut builder, &name, Some(&file), reader, Err)?;
    }
    import.finish(&mut builder, Some(57), 1_717_207_200);
    let started = Instant::now();
    let summary = builder.build_to_file(&national)?;
    println!(
        "\n   imei-index build --format dirbs --run-id 57 {} {} {} -o {}",
        bl.display(),
        nt.display(),
        ex.display(),
        national.display()
    );
    super::build::print_summary(
        &summary,
        &national,
        3,
        started.elapsed().as_secs_f64(),
        "   ",
    );

    // The operator's own block of one of the register's handsets, as another source.
    let own_imei = blacklisted[7];
    let own = dir.join("operator.imeiidx");
    let mut b = IndexBuilder::new();
    b.add(
        Rule::imei(
            own_imei,
            Entry::new(Status::Blocked).with_reason(imei_index::Reason::Fraud),
        )
        .with_source(Source::new("operator").map_err(Failure::new)?),
    );
    b.build_to_file(&own)?;
    let both = dir.join("both.imeiidx");
    let (n, o) = (Index::open(&national)?, Index::open(&own)?);
    Merge::new(&[&n, &o])
        .serial(20240601)
        .build_to_file(&both)?;
    println!(
        "   imei-index merge {} {} -o {}   (the operator's own block of {own_imei}, source operator)",
        national.display(),
        own.display(),
        both.display()
    );

    // The next day's deltas: the register unblocks the operator's handset and two others,
    // blacklists a notified one, and resolves another's notification.
    let stamp2 = "20240602_020000";
    let unblocked: Vec<String> = [own_imei, blacklisted[8], blacklisted[9]]
        .iter()
        .map(|i| format!("{:014},20240101,IMEI in local stolen list", i.as_u64()))
        .collect();
    let resolved = &notified[1];
    let mut files = vec![
        write_file(
            &reg,
            &format!("{stamp2}_blacklist_delta_57_58_unblocked.csv"),
            "imei,block_date,reasons",
            &unblocked,
        )?,
        write_file(
            &reg,
            &format!("{stamp2}_notifications_op1_delta_57_58_resolved.csv"),
            "imei,imsi,msisdn,block_date,reasons",
            &[format!(
                "{:014},{},{},{},Duplicate IMEI detected",
                resolved.0.as_u64(),
                resolved.1,
                resolved.2,
                compact(resolved.3)
            )],
        )?,
    ];
    // The register blacklists a notified handset: a blacklist row, and the notification
    // row leaves.
    let moved = &notified[2];
    files.push(write_file(
        &reg,
        &format!("{stamp2}_blacklist_delta_57_58_blocked.csv"),
        "imei,block_date,reasons",
        &[format!(
            "{:014},20240602,Duplicate IMEI detected",
            moved.0.as_u64()
        )],
    )?);
    files.push(write_file(
        &reg,
        &format!("{stamp2}_notifications_op1_delta_57_58_blacklisted.csv"),
        "imei,imsi,msisdn,block_date,reasons",
        &[format!(
            "{:014},{},{},{},Duplicate IMEI detected",
            moved.0.as_u64(),
            moved.1,
            moved.2,
            compact(moved.3)
        )],
    )?);
    // The register writes every delta file, empty or not.
    files.push(write_file(
        &reg,
        &format!("{stamp2}_exceptions_op1_delta_57_58_added.csv"),
        "imei,imsi,msisdn",
        &[],
    )?);
    let base = Index::open(&both)?;
    let mut deltas = DeltaImport::new(&base, RegisterOptions::new());
    for path in &files {
        let name = path.display().to_string();
        let file = FileName::parse(&name).map_err(Failure::new)?;
        let reader = BufReader::new(
            File::open(path).map_err(|e| Failure::new(format!("could not open {name}: {e}")))?,
        );
        deltas.add_file(&name, &file, reader, 1_717_293_600, Err)?;
    }
    let (deltas, s) = deltas.finish()?;
    let next = dir.join("register-20240602.imeiidx");
    Apply::new(&base, &deltas)
        .serial(20240602)
        .build_to_file(&next)?;
    println!(
        "\n   imei-index apply {} --format dirbs {} -o {}",
        both.display(),
        reg.join(format!("{stamp2}_*_delta_57_58_*.csv")).display(),
        next.display()
    );
    println!(
        "   read {} rows from {} delta files: {} changes + {} merged + {} rejected",
        count(s.rows),
        files.len(),
        count(s.changes),
        count(s.merged),
        count(s.rejected)
    );

    let index = Index::open(&next)?;
    let (first, first_sim, _, first_day) = notified[0];
    let before = Date::from_days_since_epoch(first_day.days_since_epoch() - 1).expect("a day");
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut row = |input: String, at: Date, v: Verdict, what: String| {
        let source = index.source(&v).unwrap_or("-").to_string();
        let reasons: Vec<&str> = index.reasons(&v).collect();
        let texts = if reasons.is_empty() {
            source
        } else {
            format!("{source}: {}", reasons.join("|"))
        };
        rows.push((
            format!("{input} --at {at}"),
            format!("{} [{texts}]", describe_dated(&v)),
            what,
        ));
    };
    row(
        first.to_string(),
        before,
        index.check_at(first, before),
        format!("notified: tracked until its block date, {first_day}"),
    );
    row(
        first.to_string(),
        first_day,
        index.check_at(first, first_day),
        "blocked from it, with no new index".to_string(),
    );
    row(
        own_imei.to_string(),
        day("2024-06-02"),
        index.check_at(own_imei, day("2024-06-02")),
        "unblocked by the register; the operator's own block stays".to_string(),
    );
    let (paired, sim) = excepted[0];
    row(
        format!("{paired} + {sim}"),
        day("2024-06-02"),
        index.check_with_imsi_at(paired, &sim, day("2024-06-02")),
        "blacklisted, but an exception pair with its owner's SIM".to_string(),
    );
    row(
        format!("{first} + {first_sim}"),
        first_day,
        index.check_with_imsi_at(first, &first_sim, first_day),
        "the notified subscriber's SIM changes nothing".to_string(),
    );
    println!();
    for (input, verdict, what) in &rows {
        println!("   {input:<52} {verdict:<90} {what}");
    }
    let sources: Vec<String> = index
        .sources()
        .iter()
        .map(|s| {
            format!(
                "{} (run {})",
                s.name,
                s.run_id.map_or("-".to_string(), |r| r.to_string())
            )
        })
        .collect();
    println!("   sources: {}", sources.join(", "));
    Ok(())
}

/// The order's second half: scan a connection log for the SIMs and numbers that used
/// listed handsets.
fn reverify(
    index: &Index,
    list: &NationalList,
    dir: &Path,
    connections: u64,
    seed: u64,
) -> Result<(), Failure> {
    let log_path = dir.join("connections.csv");
    let started = Instant::now();
    let mut w = OutFile::create(&log_path)?;
    let log = ConnectionLog::order_shaped(connections, seed);
    let written = log.write(list, &mut w)?;
    w.commit()?;
    println!("   {}", log_path.display());
    println!(
        "   {} connections (IMSI, MSISDN, IMEI, time) over 30 days, {}, generated in {:.1} s:",
        count(connections),
        bytes(written),
        started.elapsed().as_secs_f64()
    );
    println!(
        "   {:.0}% of them made with listed equipment, whose handsets rotate SIMs as fraud rings do",
        log.listed_share * 100.0,
    );
    println!(
        "   (a new SIM in {:.0}% of their connections); {:.1}% with an IMEI field that is not an IMEI",
        log.new_sim_share * 100.0,
        log.invalid_share * 100.0
    );

    let out_path = dir.join("reverify.csv");
    let rejects_path = dir.join("connections.rejects.csv");
    let statuses = [Status::Blocked, Status::Tracked];
    let mut options = ScanOptions::new();
    options.statuses(&statuses);
    let started = Instant::now();
    let mut scanner = Scanner::new(index, &options).map_err(Failure::new)?;
    let mut out = OutFile::create(&out_path)?;
    let mut rejects = OutFile::create(&rejects_path)?;
    let input = File::open(&log_path)
        .map_err(|e| Failure::new(format!("could not open {}: {e}", log_path.display())))?;
    scanner
        .scan(
            &log_path.display().to_string(),
            input,
            &mut out,
            Some(&mut rejects),
        )
        .map_err(Failure::new)?;
    out.commit()?;
    rejects.commit()?;
    let secs = started.elapsed().as_secs_f64();
    let s = scanner.summary();
    println!(
        "\n   imei-index scan --index {} {} -o {} --rejects {}",
        index_name(dir),
        log_path.display(),
        out_path.display(),
        rejects_path.display()
    );
    for line in super::scan::summary_lines(&s, &statuses, Some(&rejects_path), secs) {
        println!("   {line}");
    }
    if !s.accounts_for_every_row() {
        return Err(Failure::new("the scan lost rows: this is a bug"));
    }
    println!(
        "\n   {} connections must be re-verified: {} SIMs and {} numbers were seen with {} listed handsets",
        count(s.matched),
        count(s.imsis.unwrap_or(0)),
        count(s.msisdns.unwrap_or(0)),
        count(s.handsets),
    );
    let numbers = s.msisdns.unwrap_or(0);
    println!(
        "   the order found 20 lakh numbers (2,000,000) used with its {} handsets; this log: {:.1} lakh ({})",
        count(NationalList::BLOCKED_HANDSETS),
        numbers as f64 / 100_000.0,
        count(numbers),
    );
    Ok(())
}

fn index_name(dir: &Path) -> String {
    dir.join("national.imeiidx").display().to_string()
}

fn write_list(list: &NationalList, path: &Path) -> Result<(), Failure> {
    let mut w = OutFile::create(path)?;
    writeln!(
        w,
        "# synthetic national blocklist, seed-generated by imei-index demo"
    )?;
    synth::write_list(&mut w, &list.rules)?;
    w.commit()
}

/// A verdict of the register's part: status, rule, and its start.
fn describe_dated(v: &Verdict) -> String {
    let status = v.status().map_or("unknown", |s| s.as_str());
    let mut parts = Vec::new();
    if let Some(k) = v.rule() {
        parts.push(format!("{k} rule"));
    }
    match (v.start(), v.is_earlier()) {
        (Some(d), true) => parts.push(format!("until {d}")),
        (Some(d), false) => parts.push(format!("since {d}")),
        (None, _) => {}
    }
    if parts.is_empty() {
        status.to_string()
    } else {
        format!("{status} ({})", parts.join(", "))
    }
}

fn describe(v: &Verdict) -> String {
    let status = v.status().map_or("unknown", |s| s.as_str());
    let mut parts = Vec::new();
    if let Some(r) = v.reason() {
        parts.push(r.to_string());
    }
    if let Some(k) = v.rule() {
        parts.push(format!("{k} rule"));
    }
    if let Some(d) = v.date() {
        parts.push(format!("since {d}"));
    }
    if parts.is_empty() {
        status.to_string()
    } else {
        format!("{status} ({})", parts.join(", "))
    }
}

fn checks(index: &Index, list: &NationalList, seed: u64) -> Result<(), Failure> {
    let mut rng = Rng::new(seed ^ 0xdead);
    let blocked = list.blocked[rng.below(list.blocked.len() as u64) as usize];
    let tac = list.blocked_tacs[0];
    let counterfeit = Imei::from_parts(tac, 123_456).map_err(Failure::new)?;
    let (genuine, sim) = list.pairs[0];
    let other_sim = synth::random_imsi(&mut rng);
    let (first, last) = list.ranges[1];
    let in_range = Imei::from_u64((first.as_u64() + last.as_u64()) / 2).map_err(Failure::new)?;
    let unlisted = synth::probes(&list.blocked, 1, 0.0, seed)[0];
    let sv = format!("{:014}{:02}", blocked.as_u64(), 7);
    let forged = format!(
        "{:014}{}",
        blocked.as_u64(),
        (blocked.check_digit() + 1) % 10
    );

    let mut rows: Vec<(String, String, &str)> = Vec::new();
    let mut row =
        |input: String, v: Verdict, what: &'static str| rows.push((input, describe(&v), what));
    row(
        blocked.to_string(),
        index.check(blocked),
        "a handset from the order",
    );
    row(
        format!("imeisv-{sv}"),
        index.check(Imei::parse(&sv).map_err(Failure::new)?),
        "the same handset as a 5G IMEISV PEI",
    );
    row(
        counterfeit.to_string(),
        index.check(counterfeit),
        "any handset of a counterfeit model",
    );
    row(
        format!("{genuine} + {sim}"),
        index.check_with_imsi(genuine, &sim),
        "a genuine handset with its own SIM",
    );
    row(
        format!("{genuine} + {other_sim}"),
        index.check_with_imsi(genuine, &other_sim),
        "the same handset with another SIM",
    );
    row(
        in_range.to_string(),
        index.check(in_range),
        "inside a batch of duplicated IMEIs",
    );
    row(
        unlisted.to_string(),
        index.check(unlisted),
        "an honest handset of a listed model",
    );
    let lenient = Imei::parse_lenient(&forged).map_err(Failure::new)?;
    row(
        forged.clone(),
        index.check(lenient.imei),
        "a forged check digit, parsed leniently",
    );
    for (input, verdict, what) in &rows {
        println!("   {input:<34} {verdict:<50} {what}");
    }
    match Imei::parse(&forged) {
        Err(e) => println!("   {forged:<34} rejected by strict parsing: {e}"),
        Ok(_) => return Err(Failure::new("the forged IMEI parsed strictly")),
    }
    Ok(())
}

fn speed(index: &Index, list: &NationalList, n: usize, seed: u64) -> Result<(), Failure> {
    let probes = synth::probes(&list.blocked, n, 0.001, seed);
    let t = Instant::now();
    let mut listed = 0usize;
    for &p in &probes {
        listed += usize::from(black_box(index.check(p)).is_listed());
    }
    let single = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    let t = Instant::now();
    let verdicts = black_box(index.check_many(&probes));
    let many = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    let listed_many = verdicts.iter().filter(|v| v.is_listed()).count();
    if listed != listed_many {
        return Err(Failure::new(format!(
            "check_many found {listed_many} listed handsets but check found {listed}: this is a bug"
        )));
    }
    println!(
        "   {} checks of realistic probes (0.1% listed handsets, the rest honest handsets of the same models):",
        count(n as u64)
    );
    println!("   {single:.0} ns per check one at a time, {many:.0} ns per check with check_many");
    println!(
        "   {} of them listed; index {} ({:.2} bytes per rule), shared by every process that maps it",
        count(listed as u64),
        bytes(index.stats().file_bytes),
        index.stats().bytes_per_rule().unwrap_or(0.0),
    );
    Ok(())
}
