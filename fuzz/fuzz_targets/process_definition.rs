//! Process definitions: as a `CreateProcess` transaction carries them (the canonical binary
//! encoding) and as the CLI reads a process file (JSON), each compiled against the services they
//! name as the state machine compiles them. A compiled process must be the tree it claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::services;
use runnet_types::encoding::{decode, encode};
use runnet_types::genesis::Params;
use runnet_types::process::{Node, ProcessDefinition, services_named};

fn compile(definition: &ProcessDefinition) {
    let max_nodes = Params::default().max_process_nodes as usize;
    let Ok(compiled) = definition.compile(max_nodes, |id| services().get(id)) else {
        return;
    };
    let n = definition.nodes.len();
    assert!(n >= 1 && n <= max_nodes);
    assert_eq!(compiled.len(), n);
    let root = compiled.root;
    assert!(matches!(
        definition.nodes[root as usize],
        Node::Trigger { .. }
    ));
    assert_eq!(
        compiled.below(root),
        n - 1,
        "a node is not under the trigger"
    );
    for (index, parent) in compiled.parent.iter().enumerate() {
        assert_eq!(parent.is_none(), index == root as usize);
        if let Some(parent) = parent {
            assert!(compiled.children_of(*parent).contains(&(index as u32)));
        }
    }
    for children in &compiled.children {
        assert!(
            children.windows(2).all(|w| w[0] < w[1]),
            "children out of walk order"
        );
    }
    assert!(
        services_named(definition)
            .iter()
            .all(|id| services().contains_key(id))
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(definition) = decode::<ProcessDefinition>(data) {
        assert_eq!(
            encode(&definition),
            data,
            "decoded bytes re-encode differently"
        );
        compile(&definition);
    }
    if let Ok(definition) = serde_json::from_slice::<ProcessDefinition>(data) {
        compile(&definition);
    }
});
