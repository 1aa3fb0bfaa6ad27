//! A voice message's recording, read from this node's recordings directory in chunks.
//!
//! The message keeps the path the media node wrote; only its file name is used, looked up in
//! the recordings directory of the node serving the request, so that a stored path never
//! reads outside it. In a cluster the file is on the media node that carried the call (or on
//! a volume the nodes share).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::record::{Message, MessageId, Origin};

/// The size of a chunk.
pub const CHUNK: usize = 32 * 1024;
/// Chunks read ahead of a slow receiver.
const READ_AHEAD: usize = 4;

/// Why a recording cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The message was not left on the phone.
    #[error("message_id: message {0:?} has no recording (it was not left on the phone)")]
    None(MessageId),
    /// The file is not in this node's recordings directory.
    #[error(
        "message_id: the recording of message {id:?} ({name}) is not in this node's recordings directory {dir} (in a cluster, ask a node that has it: the media node that carried the call)"
    )]
    Missing {
        id: MessageId,
        name: String,
        dir: String,
    },
    /// The stored path names no file that could be a recording.
    #[error("message_id: the recording path {path:?} of message {id:?} names no WAV file")]
    BadPath { id: MessageId, path: String },
    /// The file is there but cannot be read.
    #[error("cannot read the recording of message {id:?}: {error}")]
    Io { id: MessageId, error: io::Error },
}

/// An open recording: its size and the file.
#[derive(Debug)]
pub struct Opened {
    pub total_bytes: u64,
    file: File,
}

/// Where `message`'s recording is in `recordings_dir`.
pub fn locate(recordings_dir: &Path, message: &Message) -> Result<PathBuf, RecordingError> {
    let Origin::Voice(voice) = &message.origin else {
        return Err(RecordingError::None(message.id.clone()));
    };
    let bad = || RecordingError::BadPath {
        id: message.id.clone(),
        path: voice.recording_path.clone(),
    };
    let name = Path::new(&voice.recording_path)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(bad)?;
    let plain = !name.starts_with('.')
        && name.ends_with(".wav")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return Err(bad());
    }
    Ok(recordings_dir.join(name))
}

/// Opens `message`'s recording in `recordings_dir` (blocking).
pub fn open(recordings_dir: &Path, message: &Message) -> Result<Opened, RecordingError> {
    let path = locate(recordings_dir, message)?;
    let id = || message.id.clone();
    let missing = || RecordingError::Missing {
        id: id(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir: recordings_dir.display().to_string(),
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
        Err(error) => return Err(RecordingError::Io { id: id(), error }),
    };
    let meta = file
        .metadata()
        .map_err(|error| RecordingError::Io { id: id(), error })?;
    if !meta.is_file() {
        return Err(missing());
    }
    Ok(Opened {
        total_bytes: meta.len(),
        file,
    })
}

/// The file's bytes in chunks of [`CHUNK`] (the last may be shorter), read on a blocking
/// thread a few chunks ahead of the receiver; reading stops when the receiver goes.
pub fn chunks(opened: Opened) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let mut file = opened.file;
    tokio::task::spawn_blocking(move || {
        loop {
            let mut chunk = vec![0u8; CHUNK];
            let mut filled = 0;
            // A chunk is full unless the file ends: reads may return less.
            while filled < CHUNK {
                match file.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            if filled == 0 {
                return;
            }
            chunk.truncate(filled);
            let last = filled < CHUNK;
            if tx.blocking_send(Ok(chunk)).is_err() || last {
                return;
            }
        }
    });
    rx
}
