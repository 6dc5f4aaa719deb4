//! Events a service's program prints, reported once each with EmitEvent.

use super::*;

impl Agent {
    /// An event line from a service's program: reported once by EmitEvent.
    pub(super) fn on_event(&mut self, index: usize, event: String, data: Value) {
        let Some(mine) = self.runners.get(index) else {
            return;
        };
        let (service, active, label, runner) = (mine.service, mine.active, mine.label(), mine.id);
        if !active || mine.registration != Registration::Registered {
            tracing::warn!(runner = %label, event, "agent: the runner is not active: event not reported");
            return;
        }
        let Some(definition) = self.definition(&service) else {
            return;
        };
        let Some(schema) = definition.event(&event).map(|e| e.data.clone()) else {
            tracing::warn!(runner = %label, event, "agent: the service has no such event: not reported");
            return;
        };
        let bytes = match protocol::record_from_json(&schema, &data) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(runner = %label, event, "agent: event data do not fit the schema ({e}): not reported");
                return;
            }
        };
        let id = runnet_types::process::event_id(&service, &event, &bytes);
        if self.reported.1.contains(&id) {
            return;
        }
        if let Ok(Some(record)) = self.shared.executor.event(&id)
            && (record.fired_at.is_some() || record.reports.iter().any(|r| r.runner == runner))
        {
            return;
        }
        let Some(submitter) = self.submitter.as_mut() else {
            return;
        };
        let payload = Payload::EmitEvent {
            service,
            event: event.clone(),
            data: bytes,
        };
        match submitter.send(&self.shared, payload, Purpose::Emit(id)) {
            Ok(hash) => {
                tracing::info!(runner = %label, event, id = %short(&id), tx = %hash, "agent: reporting an event");
                let (order, set) = &mut self.reported;
                if set.insert(id) {
                    order.push_back(id);
                }
                if order.len() > REMEMBERED_EVENTS
                    && let Some(old) = order.pop_front()
                {
                    set.remove(&old);
                }
            }
            Err(e) => tracing::warn!(runner = %label, event, "agent: cannot report the event: {e}"),
        }
    }
}
