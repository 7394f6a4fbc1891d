//! A national register's (DIRBS) list files as the command line is given them: the zip a
//! register run writes per list, one of its CSV files, or `-` (standard input).
//!
//! A zip is read in place: its members are chosen by their parsed names (the library's
//! `list::dirbs::select`, so that `op1`'s zip does not give `op10`'s files too) and come in
//! the order to read them, the full list first and then the deltas. Members may be stored, as
//! DIRBS writes them, or deflated.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use imei_index::list::dirbs::{FileName, List, RunStamp, ZipName, select};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::cmd::Failure;

/// One list file of an input: its name for messages, and its parsed file name.
#[derive(Debug)]
pub(crate) struct RegisterFile {
    /// The file's name in messages: its path, `ZIP(MEMBER)` for a zip's member, or
    /// `standard input`. Give it to `dirbs::Reader::new` as the name.
    pub(crate) name: String,
    /// The parsed file name, or `None` when it is not a register's (then the header says
    /// which list the file holds).
    pub(crate) file: Option<FileName>,
    /// The member's index in the zip (0 for a file that is not in one).
    member: usize,
}

/// The bytes of one list file, borrowed from its input.
pub(crate) type FileReader<'a> = Box<dyn BufRead + 'a>;

/// Where the files' bytes come from.
enum Source {
    /// One file, or standard input: taken by the first `next_file`.
    Text(Option<Box<dyn BufRead>>),
    /// A zip, whose members are read one at a time.
    Zip(ZipArchive<BufReader<File>>),
}

/// The list files of one input, read one after the other.
pub(crate) struct RegisterInput {
    source: Source,
    files: Vec<RegisterFile>,
    next: usize,
    /// What was left out of a zip and why, one line each, for the caller to show.
    pub(crate) notes: Vec<String>,
}

/// The first bytes of a zip: a local file header, or the end record of an empty zip.
fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

impl RegisterInput {
    /// Opens `path`: `-` for standard input, a zip (by its `.zip` extension or its first
    /// bytes), or else one list file.
    pub(crate) fn open(path: &Path) -> Result<RegisterInput, Failure> {
        if path == Path::new("-") {
            let stdin: Box<dyn BufRead> = Box::new(io::stdin().lock());
            return Ok(RegisterInput::text("standard input".into(), None, stdin));
        }
        let shown = path.display().to_string();
        let file =
            File::open(path).map_err(|e| Failure::new(format!("could not open {shown}: {e}")))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let head = reader.fill_buf().map_err(|e| {
            Failure::new(if e.kind() == io::ErrorKind::IsADirectory {
                format!("{shown} is a directory: give the register's zips or list files in it")
            } else {
                format!("could not read {shown}: {e}")
            })
        })?;
        let zip_extension = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if zip_extension || looks_like_zip(head) {
            return RegisterInput::zip(&shown, reader);
        }
        let file = FileName::parse(&shown).ok();
        Ok(RegisterInput::text(shown, file, Box::new(reader)))
    }

    fn text(name: String, file: Option<FileName>, reader: Box<dyn BufRead>) -> RegisterInput {
        RegisterInput {
            source: Source::Text(Some(reader)),
            files: vec![RegisterFile {
                name,
                file,
                member: 0,
            }],
            next: 0,
            notes: Vec::new(),
        }
    }

    /// Chooses the zip's members of its list. The zip's name says which list and run;
    /// a zip renamed otherwise must hold the files of one list and run only.
    fn zip(shown: &str, reader: BufReader<File>) -> Result<RegisterInput, Failure> {
        let unreadable = |e: ZipError| {
            Failure::new(format!(
                "could not read the zip {shown}: {e}; the register writes its lists as zip files \
                 (YYYYMMDD_HHMMSS_blacklist.zip …): give one of those, or a list file"
            ))
        };
        let archive = ZipArchive::new(reader).map_err(unreadable)?;
        // In the order of the members' indexes. A name that is not UTF-8 is no register's,
        // and is shown as well as it can be.
        let names: Vec<String> = archive
            .file_names_raw()
            .map(|raw| String::from_utf8_lossy(raw).into_owned())
            .collect();
        // Directory entries are not files.
        let members = names
            .iter()
            .map(String::as_str)
            .filter(|n| !n.ends_with('/'));
        let (list, stamp) = match ZipName::parse(shown) {
            Ok(zip) => (zip.list, zip.stamp),
            Err(_) => only_list(shown, members.clone())?,
        };
        let selection = select(members, &list, Some(stamp));
        if selection.files.is_empty() {
            return Err(Failure::new(format!(
                "the zip {shown} holds no file of the list {list} of run {stamp}: the register \
                 names them {stamp}_{list}.csv and {stamp}_{list}_delta_BASE_RUN_CHANGE.csv"
            )));
        }
        let mut notes = Vec::new();
        for name in &selection.others {
            notes.push(format!(
                "left out {shown}({name}): it is not a file of the list {list} of run {stamp}"
            ));
        }
        for (name, e) in &selection.unrecognised {
            notes.push(format!("left out {shown}({name}): {e}"));
        }
        // Every chosen name is one of `names`.
        let files = selection
            .files
            .into_iter()
            .filter_map(|(name, file)| {
                Some(RegisterFile {
                    name: format!("{shown}({name})"),
                    file: Some(file),
                    member: names.iter().position(|n| n == name)?,
                })
            })
            .collect();
        Ok(RegisterInput {
            source: Source::Zip(archive),
            files,
            next: 0,
            notes,
        })
    }

    /// The input's list files, in the order `next_file` gives them.
    pub(crate) fn files(&self) -> &[RegisterFile] {
        &self.files
    }

    /// The next list file and a reader of its bytes, or `None` after the last.
    pub(crate) fn next_file(&mut self) -> Option<Result<(&RegisterFile, FileReader<'_>), Failure>> {
        let file = self.files.get(self.next)?;
        self.next += 1;
        let reader: Result<FileReader<'_>, Failure> = match &mut self.source {
            // One file, so this is the first call.
            Source::Text(reader) => Ok(reader.take()?),
            Source::Zip(archive) => match archive.by_index(file.member) {
                // The zip crate says so only at the first read, without a word on what to do.
                Ok(member)
                    if !matches!(
                        member.compression(),
                        CompressionMethod::Stored | CompressionMethod::Deflated
                    ) =>
                {
                    Err(Failure::new(format!(
                        "could not read {}: it is compressed with {}, but only stored and \
                         deflated members are read (the register stores them): zip the file \
                         again with one of those, or unzip it and give the file",
                        file.name,
                        member.compression()
                    )))
                }
                Ok(member) => Ok(Box::new(BufReader::with_capacity(1 << 16, member))),
                Err(e) => Err(member_failure(&file.name, e)),
            },
        };
        Some(reader.map(|r| (file, r)))
    }
}

/// The one list and run whose files a zip with a name of its own holds.
fn only_list<'a>(
    shown: &str,
    members: impl Iterator<Item = &'a str>,
) -> Result<(List, RunStamp), Failure> {
    let mut lists: Vec<(List, RunStamp)> = members
        .filter_map(|m| FileName::parse(m).ok())
        .map(|f| (f.list, f.stamp))
        .collect();
    lists.sort();
    lists.dedup();
    match lists.len() {
        1 => Ok(lists.remove(0)),
        0 => Err(Failure::new(format!(
            "the zip {shown} holds no register list file: the register names them \
             YYYYMMDD_HHMMSS_blacklist.csv, _notifications_OP.csv, _exceptions_OP.csv and their \
             _delta_BASE_RUN_CHANGE.csv"
        ))),
        _ => {
            let found: Vec<String> = lists.iter().map(|(l, s)| format!("{s}_{l}")).collect();
            Err(Failure::new(format!(
                "the zip {shown} holds the files of several lists ({}), and its name is not the \
                 register's, which would say which one to read: name it as the register does \
                 (YYYYMMDD_HHMMSS_blacklist.zip, _notifications_OP.zip, _exceptions_OP.zip), or \
                 give its files one at a time",
                found.join(", ")
            )))
        }
    }
}

/// Why a zip's member cannot be read.
fn member_failure(name: &str, e: ZipError) -> Failure {
    Failure::new(format!("could not read {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::path::PathBuf;

    use imei_index::list::dirbs::{ChangeType, ListKind, Reader, Row};
    use zip::write::{SimpleFileOptions, ZipWriter};

    use super::*;

    const BLACKLIST: &str =
        "imei,block_date,reasons\r\n12345678901230,20160401,Duplicate IMEI detected\r\n";
    const NOTIFICATIONS: &str = "imei,imsi,msisdn,block_date,reasons\r\n\
        12345678901227,11106678901234,1,20160401,Duplicate IMEI detected\r\n";
    const EXCEPTIONS: &str =
        "imei,imsi,msisdn\r\n12345678901233,11101678901234,333333333333334\r\n";

    /// Writes a zip of `members` at `dir/name`, with `method`.
    fn write_zip(
        dir: &Path,
        name: &str,
        method: CompressionMethod,
        members: &[(&str, &str)],
    ) -> PathBuf {
        let path = dir.join(name);
        let mut zip = ZipWriter::new(File::create(&path).unwrap());
        let options = SimpleFileOptions::default().compression_method(method);
        for (member, text) in members {
            if member.ends_with('/') {
                zip.add_directory(*member, options).unwrap();
            } else {
                zip.start_file(*member, options).unwrap();
                zip.write_all(text.as_bytes()).unwrap();
            }
        }
        zip.finish().unwrap();
        path
    }

    /// Every file of an input: its name, its parsed name, and its rows.
    fn read_all(input: &mut RegisterInput) -> Vec<(String, Option<FileName>, Vec<Row>)> {
        let mut out = Vec::new();
        while let Some(next) = input.next_file() {
            let (file, reader) = next.unwrap();
            let kind = file.file.as_ref().map(|f| f.list.kind());
            let rows = Reader::new(file.name.clone(), reader, kind)
                .collect::<Result<Vec<Row>, _>>()
                .unwrap();
            out.push((file.name.clone(), file.file.clone(), rows));
        }
        out
    }

    fn message(result: Result<RegisterInput, Failure>) -> String {
        match result {
            Ok(_) => panic!("opened"),
            Err(Failure::Message(m)) => m,
            Err(Failure::BrokenPipe) => panic!("broken pipe"),
        }
    }

    /// op1's zip as the register writes it: stored, and with op10's files in it.
    fn op1_zip(dir: &Path, method: CompressionMethod) -> PathBuf {
        write_zip(
            dir,
            "20160301_101502_notifications_op1.zip",
            method,
            &[
                ("20160301_101502_notifications_op10.csv", NOTIFICATIONS),
                (
                    "20160301_101502_notifications_op1_delta_-1_57_resolved.csv",
                    NOTIFICATIONS,
                ),
                (
                    "20160301_101502_notifications_op1_delta_-1_57_new.csv",
                    NOTIFICATIONS,
                ),
                (
                    "20160301_101502_notifications_op10_delta_-1_57_new.csv",
                    NOTIFICATIONS,
                ),
                ("20160301_101502_notifications_op1.csv", NOTIFICATIONS),
                (
                    "20160301_101502_notifications_op1_delta_-1_57_changed.csv",
                    "imei,imsi,msisdn,block_date,reasons\r\n",
                ),
            ],
        )
    }

    #[test]
    fn a_register_zip_gives_its_lists_files_in_order() {
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let dir = tempfile::tempdir().unwrap();
            let path = op1_zip(dir.path(), method);
            let mut input = RegisterInput::open(&path).unwrap();
            assert_eq!(input.files().len(), 4);
            let files = read_all(&mut input);
            let shown = path.display().to_string();
            let names: Vec<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    format!("{shown}(20160301_101502_notifications_op1.csv)"),
                    format!("{shown}(20160301_101502_notifications_op1_delta_-1_57_new.csv)"),
                    format!("{shown}(20160301_101502_notifications_op1_delta_-1_57_resolved.csv)"),
                    format!("{shown}(20160301_101502_notifications_op1_delta_-1_57_changed.csv)"),
                ]
            );
            let changes: Vec<Option<ChangeType>> = files
                .iter()
                .map(|(_, f, _)| f.as_ref().unwrap().delta.map(|d| d.change))
                .collect();
            assert_eq!(
                changes,
                [
                    None,
                    Some(ChangeType::New),
                    Some(ChangeType::Resolved),
                    Some(ChangeType::Changed)
                ]
            );
            let rows: Vec<usize> = files.iter().map(|(_, _, r)| r.len()).collect();
            assert_eq!(rows, [1, 1, 1, 0]);
            assert_eq!(files[0].2[0].imsi.unwrap().to_string(), "11106678901234");
            assert_eq!(input.notes.len(), 2, "{:?}", input.notes);
            assert!(input.notes.iter().all(|n| n.contains("_op10")
                && n.contains(
                    "is not a file of the list notifications_op1 of run 20160301_101502"
                )));
            assert!(input.next_file().is_none());
        }
    }

    #[test]
    fn a_renamed_zip_of_one_list_is_read_by_its_members_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(
            dir.path(),
            "today.zip",
            CompressionMethod::Stored,
            &[
                ("listgen/", ""),
                (
                    "listgen/20160301_101502_blacklist_delta_-1_57_blocked.csv",
                    BLACKLIST,
                ),
                ("listgen/20160301_101502_blacklist.csv", BLACKLIST),
                ("README.txt", "made by hand"),
            ],
        );
        let mut input = RegisterInput::open(&path).unwrap();
        let files = read_all(&mut input);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].1.as_ref().unwrap().delta, None);
        assert_eq!(
            files[1].1.as_ref().unwrap().source_name(),
            "dirbs/blacklist"
        );
        assert_eq!(input.notes.len(), 1);
        assert!(
            input.notes[0].starts_with(&format!(
                "left out {}(README.txt): the file name",
                path.display()
            )),
            "{}",
            input.notes[0]
        );
    }

    #[test]
    fn a_zip_is_known_by_its_first_bytes_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(
            dir.path(),
            "lists.dat",
            CompressionMethod::Deflated,
            &[("20160301_101502_exceptions_op_1.csv", EXCEPTIONS)],
        );
        let files = read_all(&mut RegisterInput::open(&path).unwrap());
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].1.as_ref().unwrap().list.kind(),
            ListKind::Exceptions
        );
        assert_eq!(files[0].2[0].msisdn.unwrap().to_string(), "333333333333334");
    }

    #[test]
    fn a_renamed_zip_of_several_lists_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = op1_zip(dir.path(), CompressionMethod::Stored);
        let renamed = dir.path().join("op1.zip");
        std::fs::rename(&path, &renamed).unwrap();
        let msg = message(RegisterInput::open(&renamed));
        assert!(
            msg.contains(
                "holds the files of several lists (20160301_101502_notifications_op1, \
                 20160301_101502_notifications_op10), and its name is not the register's"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_zip_without_its_lists_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Named for op2, holding op1's files.
        let path = write_zip(
            dir.path(),
            "20160301_101502_exceptions_op2.zip",
            CompressionMethod::Stored,
            &[("20160301_101502_exceptions_op1.csv", EXCEPTIONS)],
        );
        let msg = message(RegisterInput::open(&path));
        assert!(
            msg.contains("holds no file of the list exceptions_op2 of run 20160301_101502"),
            "{msg}"
        );
        // Renamed, and holding nothing of the register's.
        let path = write_zip(
            dir.path(),
            "photos.zip",
            CompressionMethod::Stored,
            &[("cat.jpg", "meow")],
        );
        let msg = message(RegisterInput::open(&path));
        assert!(msg.contains("holds no register list file"), "{msg}");
        // Empty.
        let path = write_zip(dir.path(), "empty.zip", CompressionMethod::Stored, &[]);
        let msg = message(RegisterInput::open(&path));
        assert!(msg.contains("holds no register list file"), "{msg}");
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20160301_101502_blacklist.zip");
        std::fs::write(&path, BLACKLIST).unwrap();
        let msg = message(RegisterInput::open(&path));
        assert!(
            msg.starts_with(&format!("could not read the zip {}: ", path.display())),
            "{msg}"
        );
        assert!(msg.contains("give one of those, or a list file"), "{msg}");
    }

    #[test]
    fn a_member_of_an_unread_compression_method_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(
            dir.path(),
            "20160301_101502_blacklist.zip",
            CompressionMethod::Stored,
            &[("20160301_101502_blacklist.csv", BLACKLIST)],
        );
        // Mark the member bzip2-compressed (method 12), in its local and central headers.
        let mut bytes = std::fs::read(&path).unwrap();
        for (signature, offset) in [(&b"PK\x03\x04"[..], 8), (&b"PK\x01\x02"[..], 10)] {
            let at = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[at + offset..at + offset + 2].copy_from_slice(&12u16.to_le_bytes());
        }
        std::fs::write(&path, bytes).unwrap();
        let mut input = RegisterInput::open(&path).unwrap();
        let Some(Err(Failure::Message(msg))) = input.next_file().map(|r| r.map(|_| ())) else {
            panic!("the member was read");
        };
        assert!(
            msg.starts_with(&format!(
                "could not read {}(20160301_101502_blacklist.csv): ",
                path.display()
            )),
            "{msg}"
        );
        assert!(
            msg.contains(
                "it is compressed with Bzip2, but only stored and deflated members are read"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_damaged_member_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(
            dir.path(),
            "20160301_101502_blacklist.zip",
            CompressionMethod::Stored,
            &[("20160301_101502_blacklist.csv", BLACKLIST)],
        );
        // The central directory is whole; the member's own header is not.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] = 0x05;
        std::fs::write(&path, bytes).unwrap();
        let mut input = RegisterInput::open(&path).unwrap();
        let Some(Err(Failure::Message(msg))) = input.next_file().map(|r| r.map(|_| ())) else {
            panic!("the member was read");
        };
        assert!(
            msg.starts_with(&format!(
                "could not read {}(20160301_101502_blacklist.csv): ",
                path.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn a_list_file_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join("20160301_101502_exceptions_op1_delta_56_57_added.csv");
        std::fs::write(&path, EXCEPTIONS).unwrap();
        let mut input = RegisterInput::open(&path).unwrap();
        let files = read_all(&mut input);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, path.display().to_string());
        assert_eq!(files[0].1.as_ref().unwrap().delta.unwrap().base_run, 56);
        assert_eq!(files[0].2.len(), 1);
        assert!(input.notes.is_empty());
        // A file not named as the register names them: its header says which list it is.
        let path = dir.path().join("pairings.csv");
        std::fs::write(&path, EXCEPTIONS).unwrap();
        let mut input = RegisterInput::open(&path).unwrap();
        let (file, mut reader) = input.next_file().unwrap().unwrap();
        assert!(file.file.is_none());
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, EXCEPTIONS);
    }

    #[test]
    fn a_missing_file_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("20160301_101502_blacklist.zip");
        let msg = message(RegisterInput::open(&missing));
        assert!(
            msg.starts_with(&format!("could not open {}: ", missing.display())),
            "{msg}"
        );
        let msg = message(RegisterInput::open(dir.path()));
        assert!(
            msg.ends_with("is a directory: give the register's zips or list files in it"),
            "{msg}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_cannot_be_read_is_refused() {
        // Opens, but reading its first page fails (nothing is mapped at address 0).
        let msg = message(RegisterInput::open(Path::new("/proc/self/mem")));
        assert!(msg.starts_with("could not read /proc/self/mem: "), "{msg}");
    }
}
