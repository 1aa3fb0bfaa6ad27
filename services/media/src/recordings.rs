//! Recordings as playback material (announced transfer, R-31): which names point at a file
//! of `[media] recordings_dir`, which of those files are still being written, and loading a
//! finished one's recorded leg for a `recording:<file>` entry of a Play request.
//!
//! A name is checked before any file is touched: only a plain file name, or that name
//! joined to recordings_dir exactly as StopRecording returns it, is taken, and the file must
//! still resolve (symlinks followed) to a file of that directory. The file is read when the
//! Play request comes (a recording is made during the call that plays it), and only its
//! first [`MAX_PLAYBACK_SECS`] are loaded.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use cc_media_core::{SAMPLE_RATE, wav};

use crate::MediaError;

/// A Play entry with this prefix names a recording instead of a prompt id.
pub(crate) const PREFIX: &str = "recording:";

/// The longest stretch of one recording a Play entry loads; a longer recording is cut
/// there, so a huge file cannot take the node's memory (60 s is under 1 MB of samples, and
/// a caller saying their name and company takes a few seconds).
pub(crate) const MAX_PLAYBACK_SECS: usize = 60;
const MAX_PLAYBACK_SAMPLES: usize = MAX_PLAYBACK_SECS * SAMPLE_RATE as usize;

/// The file a StartRecording `file_name` becomes: `.wav` is added when missing. `None` when
/// it is not a plain name (letters, digits, '-', '_' and '.', not starting with a dot: so
/// no directories, no `..` and no hidden files).
pub(crate) fn file_name(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if !plain {
        None
    } else if name.ends_with(".wav") {
        Some(name.to_owned())
    } else {
        Some(format!("{name}.wav"))
    }
}

/// The path a `recording:` entry (without its prefix) names: a file name of `dir`, or `dir`
/// joined with one as StopRecording returns it. `None` for anything else: another
/// directory, `..`, an absolute path elsewhere, a name StartRecording would refuse.
pub(crate) fn resolve(dir: &Path, given: &str) -> Option<PathBuf> {
    let path = Path::new(given);
    let name = match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => given,
        Some(parent) if parent == dir => path.file_name()?.to_str()?,
        _ => return None,
    };
    Some(dir.join(file_name(name)?))
}

/// Recordings still being written, by path: marked by a recorder as it starts (before its
/// file exists), cleared by the writer thread once the file has its final header. A count
/// rather than a flag, because two endpoints may record under one name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unfinished(Arc<Mutex<HashMap<PathBuf, usize>>>);

impl Unfinished {
    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, usize>> {
        // Plain counts: a panic while holding the lock leaves nothing half-done.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn begin(&self, path: &Path) {
        *self.lock().entry(path.to_owned()).or_default() += 1;
    }

    pub(crate) fn end(&self, path: &Path) {
        let mut open = self.lock();
        if let Some(n) = open.get_mut(path) {
            *n -= 1;
            if *n == 0 {
                open.remove(path);
            }
        }
    }

    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.lock().contains_key(path)
    }
}

/// Checks entry `index` of a Play request, `recording:` + `given`, without reading the
/// file: where it is, and that it is finished.
pub(crate) fn check_entry(
    dir: &Path,
    unfinished: &Unfinished,
    index: usize,
    given: &str,
) -> Result<PathBuf, MediaError> {
    let path = resolve(dir, given).ok_or_else(|| {
        MediaError::InvalidArgument(format!(
            "prompts[{index}]: {:?} is not a recording of recordings_dir {}: give its file \
             name (letters, digits, '-', '_', '.') or the path StopRecording returned",
            format!("{PREFIX}{given}"),
            dir.display()
        ))
    })?;
    if unfinished.contains(&path) {
        return Err(MediaError::State(format!(
            "prompts[{index}]: {:?} is still being recorded; play it after StopRecording",
            format!("{PREFIX}{given}")
        )));
    }
    Ok(path)
}

/// Why a recording could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{} resolves to {}, outside recordings_dir", .path.display(), .resolved.display())]
    Outside { path: PathBuf, resolved: PathBuf },
    #[error("{}: {source}", .path.display())]
    Wav {
        path: PathBuf,
        source: wav::WavError,
    },
}

/// Loads the recorded leg (the left channel) of the recording at `path`, a file of `dir`
/// as [`resolve`] made it, up to [`MAX_PLAYBACK_SECS`]. Blocking file I/O: call it off the
/// async workers.
pub(crate) fn load(dir: &Path, path: &Path) -> Result<Vec<i16>, LoadError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LoadError::Io { path, source }
    };
    let resolved = std::fs::canonicalize(path).map_err(io(path))?;
    let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
    if resolved.parent() != Some(dir.as_path()) {
        return Err(LoadError::Outside {
            path: path.to_owned(),
            resolved,
        });
    }
    // Before opening: opening a FIFO would block until someone writes to it.
    let meta = std::fs::metadata(&resolved).map_err(io(path))?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile(path.to_owned()));
    }
    let limit = wav::recording_read_len(MAX_PLAYBACK_SAMPLES);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(limit).min(limit));
    File::open(&resolved)
        .and_then(|f| f.take(limit as u64).read_to_end(&mut bytes))
        .map_err(io(path))?;
    wav::parse_recording(&bytes, MAX_PLAYBACK_SAMPLES).map_err(|source| LoadError::Wav {
        path: path.to_owned(),
        source,
    })
}

/// [`load`] for entry `index` of a Play request, its error naming the entry: a file that
/// escapes recordings_dir is an invalid argument, one that is missing or unreadable is not
/// found.
pub(crate) fn load_entry(
    dir: &Path,
    index: usize,
    given: &str,
    path: &Path,
) -> Result<Vec<i16>, MediaError> {
    load(dir, path).map_err(|e| {
        let message = format!("prompts[{index}]: {:?}: {e}", format!("{PREFIX}{given}"));
        match e {
            LoadError::Outside { .. } => MediaError::InvalidArgument(message),
            LoadError::Io { .. } | LoadError::NotAFile(_) | LoadError::Wav { .. } => {
                MediaError::RecordingNotFound(message)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain_and_end_in_wav() {
        assert_eq!(file_name("call-1").as_deref(), Some("call-1.wav"));
        assert_eq!(file_name("ep-3_17.wav").as_deref(), Some("ep-3_17.wav"));
        for bad in [
            "",
            "..",
            ".hidden",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "a b",
            "é",
        ] {
            assert_eq!(file_name(bad), None, "{bad:?}");
        }
        assert_eq!(file_name(&"a".repeat(201)), None);
    }

    #[test]
    fn an_entry_names_a_file_of_recordings_dir_and_nothing_else() {
        for dir in ["/var/rec", "rec", "./rec", "/var/rec/"] {
            let dir = Path::new(dir);
            let want = Some(dir.join("m-1.wav"));
            assert_eq!(resolve(dir, "m-1.wav"), want, "{dir:?}");
            assert_eq!(resolve(dir, "m-1"), want, "{dir:?}: .wav is added");
            let returned = dir.join("m-1.wav").display().to_string();
            assert_eq!(resolve(dir, &returned), want, "{returned:?}");
            for bad in [
                "",
                "..",
                "../m-1.wav",
                "/etc/passwd",
                "/var/other/m-1.wav",
                "sub/m-1.wav",
                ".m-1.wav",
                "/",
            ] {
                assert_eq!(resolve(dir, bad), None, "{dir:?} {bad:?}");
            }
            let up = dir.join("..").join("m-1.wav").display().to_string();
            assert_eq!(resolve(dir, &up), None, "{up:?}");
            let dot_dot = dir.join("..").display().to_string();
            assert_eq!(resolve(dir, &dot_dot), None, "{dot_dot:?}");
        }
    }

    #[test]
    fn unfinished_counts_each_recording_of_a_path() {
        let u = Unfinished::default();
        let p = Path::new("/rec/a.wav");
        u.begin(p);
        u.begin(p);
        u.end(p);
        assert!(u.contains(p), "one of two writers is still on it");
        u.end(p);
        assert!(!u.contains(p));
        u.end(p);
        assert!(!u.contains(p), "an extra end is harmless");
    }

    /// A directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir()
                .join(format!("cc-media-recordings-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn loading_follows_no_link_out_of_the_directory() {
        let root = Scratch::new("links");
        let (dir, outside) = (root.0.join("rec"), root.0.join("elsewhere"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let mut w = wav::StereoWavWriter::new();
        let mut file = w.header().unwrap().to_vec();
        w.write_frames(&[100; 160], &[-100; 160], &mut file);
        file[..wav::WAV_HEADER_LEN].copy_from_slice(&w.header().unwrap());
        std::fs::write(dir.join("in.wav"), &file).unwrap();
        std::fs::write(outside.join("secret.wav"), &file).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.wav"), dir.join("out.wav")).unwrap();
        std::os::unix::fs::symlink(dir.join("in.wav"), dir.join("alias.wav")).unwrap();
        std::fs::create_dir(dir.join("sub.wav")).unwrap();

        assert_eq!(load(&dir, &dir.join("in.wav")).unwrap(), [100; 160]);
        assert_eq!(load(&dir, &dir.join("alias.wav")).unwrap(), [100; 160]);
        let err = load_entry(&dir, 2, "out.wav", &dir.join("out.wav")).unwrap_err();
        assert!(
            matches!(&err, MediaError::InvalidArgument(m)
                if m.starts_with("prompts[2]: \"recording:out.wav\": ") && m.contains("outside recordings_dir")),
            "{err:?}"
        );
        let err = load_entry(&dir, 0, "sub.wav", &dir.join("sub.wav")).unwrap_err();
        assert!(
            matches!(&err, MediaError::RecordingNotFound(m) if m.contains("not a regular file")),
            "{err:?}"
        );
        let err = load_entry(&dir, 1, "gone", &dir.join("gone.wav")).unwrap_err();
        assert!(
            matches!(&err, MediaError::RecordingNotFound(m)
                if m.starts_with("prompts[1]: \"recording:gone\": cannot read ")),
            "{err:?}"
        );
    }

    #[test]
    fn a_long_recording_is_loaded_up_to_the_cap_only() {
        let root = Scratch::new("cap");
        let mut w = wav::StereoWavWriter::new();
        let mut file = w.header().unwrap().to_vec();
        let second: Vec<i16> = vec![5; SAMPLE_RATE as usize];
        for _ in 0..MAX_PLAYBACK_SECS + 2 {
            w.write_frames(&second, &second, &mut file);
        }
        file[..wav::WAV_HEADER_LEN].copy_from_slice(&w.header().unwrap());
        let path = root.0.join("long.wav");
        std::fs::write(&path, &file).unwrap();
        assert_eq!(load(&root.0, &path).unwrap().len(), MAX_PLAYBACK_SAMPLES);
    }
}
