//! Parsed service definitions, kept across blocks. A service's id hashes its definition bytes,
//! so the definition behind an id never changes and a cached parse is always the right one; the
//! cache only saves re-parsing JSON at every step that needs a task's schema.

use runnet_types::Hash;
use runnet_types::service::ServiceDefinition;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub struct DefinitionCache {
    entries: Mutex<BTreeMap<Hash, Arc<ServiceDefinition>>>,
    capacity: usize,
}

impl DefinitionCache {
    pub fn new(capacity: usize) -> DefinitionCache {
        DefinitionCache {
            entries: Mutex::new(BTreeMap::new()),
            capacity,
        }
    }

    /// The definition of service `id`, parsed from `bytes` (its stored definition) on a miss.
    pub fn get_or_parse(
        &self,
        id: &Hash,
        bytes: &[u8],
    ) -> Result<Arc<ServiceDefinition>, serde_json::Error> {
        if let Some(found) = self.entries.lock().ok().and_then(|e| e.get(id).cloned()) {
            return Ok(found);
        }
        // Stored definitions were validated at publish; parse without the size limit of new ones.
        let parsed = Arc::new(serde_json::from_slice::<ServiceDefinition>(bytes)?);
        if let Ok(mut entries) = self.entries.lock() {
            // Clearing when full is crude but predictable; the store stays the truth.
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(*id, parsed.clone());
        }
        Ok(parsed)
    }
}
