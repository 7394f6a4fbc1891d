//! `imei-index scan`: find the connections seen with listed handsets.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::ErrorChain;
use imei_index::scan::{Column, Header, ScanError, ScanOptions, ScanSummary, Scanner};
use imei_index::{Status, Verification};

use super::{
    CliResult, Failure, OutFile, Outcome, Output, TacPolicyArgs, WriteFailed, bytes, count,
    refuse_overlaps,
};

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file.
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// The IMEI column: a 1-based position, or a name in the header row. By default the
    /// header's imei, imeisv, pei or servedIMEI column.
    #[arg(long, value_name = "N|NAME")]
    column: Option<Column>,
    /// The IMSI column, so that pair rules apply and distinct SIMs are counted. By default
    /// the header's imsi, supi or servedIMSI column, if any.
    #[arg(long, value_name = "N|NAME")]
    imsi_column: Option<Column>,
    /// The MSISDN column, so that distinct numbers are counted. By default the header's
    /// msisdn, gpsi or servedMSISDN column, if any.
    #[arg(long, value_name = "N|NAME")]
    msisdn_column: Option<Column>,
    /// The field delimiter: one ASCII character, or `tab`.
    #[arg(long, value_name = "C", default_value = ",", value_parser = parse_delimiter)]
    delimiter: u8,
    /// Whether the first row is a header: `auto` (when it names a column to read), `yes`
    /// or `no`.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = parse_header)]
    header: Header,
    /// Which verdicts to write, comma-separated: blocked, tracked, allowed.
    #[arg(
        long,
        value_name = "STATUS,...",
        default_value = "blocked,tracked",
        value_delimiter = ','
    )]
    status: Vec<Status>,
    /// Accept a 15th digit that is not the Luhn check digit (forged handsets).
    #[arg(long)]
    lenient: bool,
    /// Write rows that cannot be read to FILE, each after a comment saying what is wrong.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Write the matching rows to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Threads that parse and check (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Append manufacturer and model columns to each match, from the index's TAC database
    /// (empty for a TAC it does not list; build it with --tac-db).
    #[arg(long)]
    device_columns: bool,
    #[command(flatten)]
    policy: TacPolicyArgs,
    /// Logs to scan (delimited text, gzip-compressed or not). `-` or none: standard input.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err("the delimiter is one ASCII character, or `tab`".into()),
    }
}

fn parse_header(s: &str) -> Result<Header, String> {
    match s {
        "auto" => Ok(Header::Auto),
        "yes" => Ok(Header::Present),
        "no" => Ok(Header::Absent),
        _ => Err("expected auto, yes or no".into()),
    }
}

pub(crate) fn run(args: &Args) -> CliResult {
    let mut inputs = vec![("index", args.index.as_path())];
    inputs.extend(args.files.iter().map(|f| ("log", f.as_path())));
    let mut outputs = Vec::new();
    if let Some(o) = &args.output {
        outputs.push(("output", o.as_path()));
    }
    if let Some(r) = &args.rejects {
        outputs.push(("rejects file", r.as_path()));
    }
    refuse_overlaps(&inputs, &outputs)?;
    let index = args.policy.open(&args.index, Verification::Checksums)?;
    if args.device_columns && index.tac_db_len().is_none() {
        return Err(Failure::new(format!(
            "--device-columns names each match's model from the index's TAC database, but {} \
             holds none: build it with --tac-db FILE",
            args.index.display()
        )));
    }
    let mut options = ScanOptions::new();
    options.device_columns(args.device_columns);
    options
        .delimiter(args.delimiter)
        .header(args.header)
        .imei_column(args.column.clone().unwrap_or(Column::Auto))
        .imsi_column(Some(args.imsi_column.clone().unwrap_or(Column::Auto)))
        .msisdn_column(Some(args.msisdn_column.clone().unwrap_or(Column::Auto)))
        .statuses(&args.status)
        .lenient(args.lenient);
    if let Some(n) = args.threads {
        options.threads(n);
    }
    let mut scanner = Scanner::new(&index, &options).map_err(Failure::new)?;

    let mut out = Output::new(args.output.as_deref())?;
    let mut rejects = args.rejects.as_deref().map(OutFile::create).transpose()?;
    let stdin = [PathBuf::from("-")];
    let files = if args.files.is_empty() {
        &stdin[..]
    } else {
        &args.files[..]
    };
    let started = Instant::now();
    for path in files {
        let (name, input) = open_input(path)?;
        let rejects = rejects.as_mut().map(|w| w as &mut dyn Write);
        scanner
            .scan(&name, input, &mut out, rejects)
            .map_err(scan_failure)?;
    }
    // Both files are written out before either is put in place.
    let rejects = rejects.map(OutFile::prepare).transpose()?;
    out.finish()?;
    if let Some(r) = rejects {
        r.commit()?;
    }
    let summary = scanner.summary();
    let secs = started.elapsed().as_secs_f64();
    for line in summary_lines(&summary, &args.status, args.rejects.as_deref(), secs) {
        eprintln!("{line}");
    }
    if summary.rejected() == 0 {
        return Ok(Outcome::Success);
    }
    let n = summary.rejected();
    let aside = match &args.rejects {
        Some(p) => format!("they are in {}, each after its reason", p.display()),
        None => "name a file with --rejects FILE to see them".to_string(),
    };
    eprintln!(
        "imei-index: error: {} row{} could not be read: {aside}",
        count(n),
        if n == 1 { "" } else { "s" }
    );
    Ok(Outcome::Invalid)
}

/// Opens a log (`-` is standard input), decompressing it when it starts like gzip.
fn open_input(path: &Path) -> Result<(String, Box<dyn Read>), Failure> {
    let (name, mut reader): (String, Box<dyn BufRead>) = if path == Path::new("-") {
        ("standard input".into(), Box::new(io::stdin().lock()))
    } else {
        let file = File::open(path)
            .map_err(|e| Failure::new(format!("could not open {}: {e}", path.display())))?;
        (
            path.display().to_string(),
            Box::new(BufReader::with_capacity(1 << 16, file)),
        )
    };
    let head = reader
        .fill_buf()
        .map_err(|e| Failure::new(format!("could not read {name}: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok((name, Box::new(flate2::bufread::MultiGzDecoder::new(reader))));
    }
    Ok((name, Box::new(reader)))
}

fn scan_failure(e: ScanError) -> Failure {
    match e.write_error() {
        Some(io) if io.kind() == io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
        Some(io) => match WriteFailed::of(io) {
            Some(w) => Failure::new(format!(
                "{}; {} was left as it was",
                ErrorChain(&e),
                w.path().display()
            )),
            None => Failure::new(ErrorChain(&e)),
        },
        _ => Failure::new(ErrorChain(&e)),
    }
}

/// The summary's lines, accounting for every row.
pub(crate) fn summary_lines(
    s: &ScanSummary,
    statuses: &[Status],
    rejects: Option<&Path>,
    secs: f64,
) -> Vec<String> {
    let mbps = s.bytes as f64 / secs.max(1e-9) / 1e6;
    let mut lines = Vec::new();
    let mut line = |text: String| lines.push(text);
    line(format!(
        "scanned {} rows ({}) in {secs:.2} s: {mbps:.0} MB/s",
        count(s.rows),
        bytes(s.bytes)
    ));
    let by = |status: Status, n: u64| format!("{} {}", count(n), status.as_str());
    let reported: Vec<String> = [
        (Status::Blocked, s.blocked),
        (Status::Tracked, s.tracked),
        (Status::Allowed, s.allowed),
    ]
    .into_iter()
    .filter(|(st, _)| statuses.contains(st))
    .map(|(st, n)| by(st, n))
    .collect();
    line(format!(
        "  matched      {} rows with listed handsets ({})",
        count(s.matched),
        reported.join(", ")
    ));
    let mut seen = format!(
        "  handsets     {} distinct listed handsets",
        count(s.handsets)
    );
    let with: Vec<String> = [(s.imsis, "IMSIs (SIMs)"), (s.msisdns, "MSISDNs (numbers)")]
        .into_iter()
        .filter_map(|(n, what)| n.map(|n| format!("{} distinct {what}", count(n))))
        .collect();
    if !with.is_empty() {
        seen.push_str(&format!(", seen with {}", with.join(" and ")));
    }
    line(seen);
    let skipped: Vec<String> = [
        (Status::Blocked, s.blocked),
        (Status::Tracked, s.tracked),
        (Status::Allowed, s.allowed),
    ]
    .into_iter()
    .filter(|(st, n)| !statuses.contains(st) && *n > 0)
    .map(|(st, n)| by(st, n))
    .collect();
    let unmatched_note = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (including {} not reported)", skipped.join(", "))
    };
    line(format!(
        "  unmatched    {} rows{unmatched_note}",
        count(s.unmatched)
    ));
    let aside = match rejects {
        Some(p) if s.rejected() > 0 => format!(" (written to {})", p.display()),
        _ => String::new(),
    };
    line(format!(
        "  rejected     {} rows whose IMEI field is not an IMEI, {} malformed{aside}",
        count(s.not_imei),
        count(s.malformed)
    ));
    if s.wrong_check_digit > 0 {
        line(format!(
            "  lenient      {} rows accepted with a wrong check digit (forged or mistyped IMEIs)",
            count(s.wrong_check_digit)
        ));
    }
    if s.bad_imsi > 0 {
        line(format!(
            "  IMSIs        {} matched rows with an IMSI field that is not an IMSI",
            count(s.bad_imsi)
        ));
    }
    line(format!(
        "  accounted    {} rows = {} matched + {} unmatched + {} rejected",
        count(s.rows),
        count(s.matched),
        count(s.unmatched),
        count(s.rejected())
    ));
    lines
}
