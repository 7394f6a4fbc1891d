//! Which of a zip's members (or a directory's files) are one list's files, and in what order
//! to read them.

use crate::list::dirbs::name::{FileName, List, NameError, RunStamp, ZipName};

/// A list's files among a zip's members or a directory's files, in the order to read them,
/// and what was left out.
///
/// Made by [`select`] or [`ZipName::select`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection<'a> {
    /// The list's files, each name as given and parsed: by run (oldest first), and in each
    /// run the full list first, then the deltas in the order of [`ListKind::changes`].
    ///
    /// [`ListKind::changes`]: crate::list::dirbs::ListKind::changes
    pub files: Vec<(&'a str, FileName)>,
    /// Names of other lists' or other runs' files, as given: in `op1`'s zip, `op10`'s files.
    pub others: Vec<&'a str>,
    /// Names that are not register list files, with why.
    pub unrecognised: Vec<(&'a str, NameError)>,
}

/// Picks one list's files out of a zip's member names (or a directory's file names) and
/// orders them: by run, and in each run the full list first, then the deltas.
///
/// Files are chosen by their parsed names, never by a name prefix: the register puts every
/// file whose name *starts* with `…_notifications_op1` in `op1`'s zip, so that zip holds
/// `op10`'s files too, and they must be left out. With `stamp`, only that run's files are
/// chosen (a directory may hold several runs). Names may be paths; their last part is
/// parsed.
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{List, select};
///
/// // The members of 20160301_101502_notifications_op1.zip, in the zip's order.
/// let members = [
///     "20160301_101502_notifications_op10_delta_-1_57_new.csv",
///     "20160301_101502_notifications_op1_delta_-1_57_resolved.csv",
///     "20160301_101502_notifications_op1_delta_-1_57_new.csv",
///     "20160301_101502_notifications_op1.csv",
///     "20160301_101502_notifications_op10.csv",
///     "README.txt",
/// ];
/// let op1 = List::Notifications { operator: "op1".into() };
/// let selection = select(members, &op1, None);
/// let files: Vec<&str> = selection.files.iter().map(|(name, _)| *name).collect();
/// assert_eq!(files, [
///     "20160301_101502_notifications_op1.csv",
///     "20160301_101502_notifications_op1_delta_-1_57_new.csv",
///     "20160301_101502_notifications_op1_delta_-1_57_resolved.csv",
/// ]);
/// assert_eq!(selection.others.len(), 2);
/// assert_eq!(selection.unrecognised[0].0, "README.txt");
/// ```
pub fn select<'a>(
    names: impl IntoIterator<Item = &'a str>,
    list: &List,
    stamp: Option<RunStamp>,
) -> Selection<'a> {
    let mut selection = Selection {
        files: Vec::new(),
        others: Vec::new(),
        unrecognised: Vec::new(),
    };
    for name in names {
        match FileName::parse(name) {
            Ok(file) if file.list == *list && stamp.is_none_or(|s| s == file.stamp) => {
                selection.files.push((name, file));
            }
            Ok(_) => selection.others.push(name),
            Err(e) => selection.unrecognised.push((name, e)),
        }
    }
    selection.files.sort_by_cached_key(|(name, file)| {
        let delta = file.delta.map(|d| {
            let kind = file.list.kind();
            let change = kind.changes().iter().position(|&c| c == d.change);
            (d.run, d.base_run, change)
        });
        (file.stamp, delta, *name)
    });
    selection
}

impl ZipName {
    /// Picks this zip's list files out of its member names, and orders them: the full list
    /// first, then the deltas. As [`select`] with this zip's list and run.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::dirbs::ZipName;
    ///
    /// let zip = ZipName::parse("20160301_101502_blacklist.zip")?;
    /// let members = [
    ///     "20160301_101502_blacklist_delta_-1_57_changed.csv",
    ///     "20160301_101502_blacklist_delta_-1_57_blocked.csv",
    ///     "20160301_101502_blacklist.csv",
    ///     "20160301_101502_blacklist_delta_-1_57_unblocked.csv",
    /// ];
    /// let order: Vec<String> = zip
    ///     .select(members)
    ///     .files
    ///     .iter()
    ///     .map(|(_, file)| file.delta.map_or("full".into(), |d| d.change.to_string()))
    ///     .collect();
    /// assert_eq!(order, ["full", "blocked", "unblocked", "changed"]);
    /// # Ok::<(), imei_index::list::dirbs::NameError>(())
    /// ```
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Selection<'a> {
        select(names, &self.list, Some(self.stamp))
    }
}
