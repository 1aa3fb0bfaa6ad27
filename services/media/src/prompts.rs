//! The prompt store: every `*.wav` in `[media] prompts_dir`, decoded once at start and
//! shared by all socket loops. A file that is not 8 kHz 16-bit mono is refused at start
//! with its name and the reason, never discovered mid-call. (Recordings played back are
//! the exception: `recording:<file>` entries are read when played, see `recordings`.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use cc_media_core::wav;

use crate::MediaError;

#[derive(Debug, Default)]
pub struct PromptStore {
    prompts: HashMap<String, Arc<[i16]>>,
}

impl PromptStore {
    /// Loads every WAV file of `dir`; the file stem is the prompt id.
    pub fn load_dir(dir: &Path) -> Result<PromptStore, MediaError> {
        let mut store = PromptStore::default();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            MediaError::Prompts(format!("cannot read prompts_dir {}: {e}", dir.display()))
        })?;
        for entry in entries {
            let path = entry.map_err(MediaError::Io)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if id.starts_with(crate::recordings::PREFIX) {
                // Play would take it for a recording of recordings_dir.
                tracing::warn!(path = %path.display(), "prompt skipped: its id starts with the reserved \"recording:\"");
                continue;
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| MediaError::Prompts(format!("cannot read {}: {e}", path.display())))?;
            let samples = wav::parse_prompt(&bytes)
                .map_err(|e| MediaError::Prompts(format!("{}: {e}", path.display())))?;
            store.insert(id, samples);
        }
        Ok(store)
    }

    pub fn insert(&mut self, id: &str, samples: Vec<i16>) {
        self.prompts.insert(id.to_owned(), samples.into());
    }

    pub fn get(&self, id: &str) -> Option<Arc<[i16]>> {
        self.prompts.get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.prompts.keys().map(String::as_str)
    }
}
