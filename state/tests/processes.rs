//! Processes and emitters, rule by rule and scenario by scenario: creation checks and deposit,
//! funding and closing, event reports and their quorum of runners and stake, the window, firing
//! once, walks (filters, maps, tasks paid by the process, reimbursement and incentive), chaining
//! a second task on the first one's completion, skipped subtrees for lack of balance or cap, the
//! walk budget carrying over, refunds to the process, pruning to summaries.

mod common;

use common::*;
use runnet_state::objects::{Payer, ProcessStatus, SkipCause, WalkJob, runner_id};
use runnet_state::{ErrorCode, ExecutionStatus, Outcome, Receipt};
use runnet_types::execution::TaskResult;
use runnet_types::genesis::Params;
use runnet_types::process::{
    Condition, Constant, Edge, KeyPath, MapField, MapValue, Node, Op, ProcessDefinition, event_id,
    process_execution_id,
};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Hash, Payload};

const STAKE: u64 = 100_000;
const OWNER: usize = 9;
const FEE: u64 = 5_000;
/// Trusted tasks escrow just the price: 1,000 per call, nothing per KiB.
const PRICE: u64 = 1_000;

fn params() -> Params {
    Params {
        retention_ms: 30 * BLOCK_MS,
        event_window_ms: 10 * BLOCK_MS,
        ..test_params()
    }
}

fn feed_definition() -> Vec<u8> {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "feed",
        "tasks": [
            {"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
             "max_output_bytes": 64, "verification": "trusted", "timeout_ms": 10000},
            {"key": "double", "inputs": {"x": "int"}, "outputs": {"y": "int"},
             "max_output_bytes": 64, "verification": "trusted", "timeout_ms": 10000}
        ],
        "events": [{"key": "tick", "data": {"a": "int", "b": "int"}}]
    }))
    .unwrap();
    definition.to_canonical_bytes()
}

fn ints(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Account 0 publishes `feed`; accounts 1..=runners run it with equal stakes; 9 owns processes.
struct Feed {
    chain: Chain,
    service: Hash,
}

impl Feed {
    fn new(runners: usize, params: Params) -> Feed {
        let mut chain = Chain::with_params(10, params);
        let definition = feed_definition();
        let bundle = Bundle::External {
            digest: Hash([5; 32]),
        };
        let service = runnet_state::objects::service_id(&addr(0), &definition, &bundle.digest());
        let r = chain.run(0, Payload::PublishService { definition, bundle });
        assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        let txs = (1..=runners)
            .map(|i| {
                chain.tx(
                    i,
                    Payload::RegisterRunner {
                        service,
                        stake: STAKE,
                        price_per_call: PRICE,
                        price_per_kib: 0,
                        max_open: 10,
                    },
                )
            })
            .collect();
        let outcome = chain.block(txs);
        assert!(outcome.receipts.iter().all(Receipt::is_success));
        Feed { chain, service }
    }

    fn emit_tx(&mut self, who: usize, a: i64, b: i64) -> runnet_types::SignedTx {
        self.chain.tx(
            who,
            Payload::EmitEvent {
                service: self.service,
                event: "tick".into(),
                data: ints(&[a, b]),
            },
        )
    }

    fn emit(&mut self, who: usize, a: i64, b: i64) -> Receipt {
        let tx = self.emit_tx(who, a, b);
        self.chain.block(vec![tx]).receipts.remove(0)
    }

    fn event(&self, a: i64, b: i64) -> Hash {
        event_id(&self.service, "tick", &ints(&[a, b]))
    }

    /// Creates a process (receipt must succeed); returns its id.
    fn create(&mut self, definition: ProcessDefinition, balance: u64, spend_cap: u64) -> Hash {
        let (id, r) = self.try_create(definition, balance, spend_cap);
        assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        id
    }

    fn try_create(
        &mut self,
        definition: ProcessDefinition,
        balance: u64,
        spend_cap: u64,
    ) -> (Hash, Receipt) {
        let tx = self.chain.tx(
            OWNER,
            Payload::CreateProcess {
                definition,
                balance,
                spend_cap,
            },
        );
        let id = tx.hash();
        (id, self.chain.block(vec![tx]).receipts.remove(0))
    }

    fn process(&self, id: &Hash) -> runnet_state::Process {
        self.chain
            .exec
            .process(id)
            .unwrap()
            .expect("process exists")
    }

    fn execution(&self, id: &Hash) -> runnet_state::Execution {
        self.chain
            .exec
            .execution(id)
            .unwrap()
            .expect("execution exists")
    }

    /// The assigned runner's owner submits `outputs` (after the assignment block).
    fn submit(&mut self, id: &Hash, outputs: Vec<u8>) -> Receipt {
        if self.execution(id).status == ExecutionStatus::Requested {
            self.chain.block(vec![]);
        }
        let owner = self.execution(id).runner_owner.expect("assigned");
        let who = (0..10).find(|i| addr(*i) == owner).unwrap();
        self.chain.run(
            who,
            Payload::SubmitResult {
                execution: *id,
                result: TaskResult::Output(outputs),
            },
        )
    }
}

fn trigger(service: Hash) -> Node {
    Node::Trigger {
        service,
        event: "tick".into(),
    }
}

fn task(service: Hash, key: &str, max_fee: u64) -> Node {
    Node::Task {
        service,
        task: key.into(),
        max_fee,
    }
}

fn path(node: u32, fields: &[&str]) -> KeyPath {
    KeyPath {
        node,
        fields: fields.iter().map(|f| f.to_string()).collect(),
    }
}

fn edges(pairs: &[(u32, u32)]) -> Vec<Edge> {
    pairs
        .iter()
        .map(|(from, to)| Edge {
            from: *from,
            to: *to,
        })
        .collect()
}

/// tick -> add(a, b) -> map {x: sum} -> double(x)
fn chain_process(service: Hash) -> ProcessDefinition {
    ProcessDefinition {
        nodes: vec![
            trigger(service),
            task(service, "add", FEE),
            Node::Map {
                fields: vec![MapField {
                    name: "x".into(),
                    value: MapValue::Path(path(1, &["sum"])),
                }],
            },
            task(service, "double", FEE),
        ],
        edges: edges(&[(0, 1), (1, 2), (2, 3)]),
    }
}

/// tick -> add(a, b), once.
fn single_task(service: Hash) -> ProcessDefinition {
    ProcessDefinition {
        nodes: vec![trigger(service), task(service, "add", FEE)],
        edges: edges(&[(0, 1)]),
    }
}

#[test]
fn create_checks_the_tree_and_takes_the_deposit() {
    let mut f = Feed::new(2, params());
    let before = f.chain.balance(&addr(OWNER));
    let (id, r) = f.try_create(single_task(f.service), 50_000, 10_000);
    assert!(r.is_success(), "{r:?}");
    let deposit = params().process_deposit;
    assert_eq!(
        f.chain.balance(&addr(OWNER)),
        before - r.fee - deposit - 50_000
    );
    let p = f.process(&id);
    assert_eq!(
        (p.owner, p.balance, p.deposit, p.spend_cap, p.status),
        (addr(OWNER), 50_000, deposit, 10_000, ProcessStatus::Open)
    );
    let proved = f.chain.exec.prove_process(&id).unwrap();
    proved.verify().unwrap();
    assert_eq!(proved.value.as_ref(), Some(&p));

    let service = f.service;
    let invalid = |f: &mut Feed, d: ProcessDefinition, cap: u64| {
        let (_, r) = f.try_create(d, 0, cap);
        assert_failed(&r, ErrorCode::InvalidProcess);
        match r.outcome {
            Outcome::Failed { detail, .. } => detail,
            _ => unreachable!(),
        }
    };
    // Two triggers.
    let mut d = single_task(service);
    d.nodes[1] = trigger(service);
    assert!(invalid(&mut f, d, 1).contains("one trigger"));
    // Not connected.
    let mut d = single_task(service);
    d.edges.clear();
    assert!(invalid(&mut f, d, 1).contains("not connected"));
    // A cycle (and a second parent).
    let mut d = chain_process(service);
    d.edges.push(Edge { from: 3, to: 1 });
    assert!(invalid(&mut f, d, 1).contains("parent"));
    // Unresolvable references: a missing service, a task whose inputs do not match.
    let mut d = single_task(service);
    d.nodes[1] = task(Hash([1; 32]), "add", FEE);
    assert!(invalid(&mut f, d, 1).contains("not found"));
    let mut d = single_task(service);
    d.nodes[1] = task(service, "double", FEE);
    assert!(invalid(&mut f, d, 1).contains("inputs schema"));
    // A spend cap of 0.
    assert!(invalid(&mut f, single_task(service), 0).contains("spend_cap"));
    // Too many nodes: max_process_nodes.
    let mut d = single_task(service);
    for i in 0..params().max_process_nodes {
        d.nodes.push(task(service, "add", FEE));
        d.edges.push(Edge { from: 0, to: i + 2 });
    }
    let (_, r) = f.try_create(d, 0, 1);
    assert_failed(&r, ErrorCode::ProcessTooLarge);
    // Too many bytes: max_definition_bytes.
    let mut big = single_task(service);
    big.nodes.push(Node::Map {
        fields: vec![MapField {
            name: "s".into(),
            value: MapValue::Constant(Constant::Bytes(vec![0; 70_000])),
        }],
    });
    big.edges.push(Edge { from: 0, to: 2 });
    let mut body = f.chain.body(
        OWNER,
        Payload::CreateProcess {
            definition: big,
            balance: 0,
            spend_cap: 1,
        },
    );
    body.gas_limit = 3_000_000;
    let signed = body.sign(&key(OWNER));
    f.chain.nonces[OWNER] += 1;
    assert_failed(
        &f.chain.block(vec![signed]).receipts[0],
        ErrorCode::ProcessTooLarge,
    );
    // A spend cap below one walk step's price: it could never walk.
    assert!(invalid(&mut f, single_task(service), 999).contains("walk step"));
    // More than the account holds.
    let (_, r) = f.try_create(single_task(service), u64::MAX / 2, 1_000);
    assert_failed(&r, ErrorCode::InsufficientBalance);
}

#[test]
fn fund_and_close_return_balance_and_deposit_to_the_owner() {
    let mut f = Feed::new(2, params());
    let id = f.create(single_task(f.service), 1_000, 10_000);
    assert_failed(
        &f.chain.run(
            3,
            Payload::FundProcess {
                process: id,
                amount: 0,
            },
        ),
        ErrorCode::ZeroAmount,
    );
    assert_failed(
        &f.chain.run(
            3,
            Payload::FundProcess {
                process: Hash([1; 32]),
                amount: 5,
            },
        ),
        ErrorCode::ProcessNotFound,
    );
    assert_failed(
        &f.chain.run(
            3,
            Payload::FundProcess {
                process: id,
                amount: u64::MAX / 2,
            },
        ),
        ErrorCode::InsufficientBalance,
    );
    // Anyone may fund.
    let r = f.chain.run(
        3,
        Payload::FundProcess {
            process: id,
            amount: 500,
        },
    );
    assert!(r.is_success());
    assert_eq!(f.process(&id).balance, 1_500);
    // Only the owner closes.
    assert_failed(
        &f.chain.run(3, Payload::CloseProcess { process: id }),
        ErrorCode::NotProcessOwner,
    );
    let before = f.chain.balance(&addr(OWNER));
    let r = f.chain.run(OWNER, Payload::CloseProcess { process: id });
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        f.chain.balance(&addr(OWNER)),
        before - r.fee + 1_500 + params().process_deposit
    );
    let p = f.process(&id);
    assert_eq!(
        (p.status, p.balance, p.deposit),
        (ProcessStatus::Closed, 0, 0)
    );
    assert_failed(
        &f.chain.run(OWNER, Payload::CloseProcess { process: id }),
        ErrorCode::ProcessClosed,
    );
    assert_failed(
        &f.chain.run(
            3,
            Payload::FundProcess {
                process: id,
                amount: 5,
            },
        ),
        ErrorCode::ProcessClosed,
    );
    // A closed process is not fired.
    let tx = (f.emit_tx(1, 1, 2), f.emit_tx(2, 1, 2));
    let outcome = f.chain.block(vec![tx.0, tx.1]);
    assert!(outcome.walks.is_empty());
    // After retention it shrinks to a summary that still says how it ended.
    f.chain.empty_blocks(params().retention_ms / BLOCK_MS);
    assert!(f.chain.exec.process(&id).unwrap().is_none());
    let summary = f.chain.exec.process_summary(&id).unwrap().unwrap();
    assert_eq!(
        (summary.owner, summary.status, summary.walks),
        (addr(OWNER), ProcessStatus::Closed, 0)
    );
}

#[test]
fn emit_event_errors() {
    let mut f = Feed::new(3, params());
    let service = f.service;
    let emit = |f: &mut Feed, who: usize, service: Hash, event: &str, data: Vec<u8>| {
        f.chain.run(
            who,
            Payload::EmitEvent {
                service,
                event: event.into(),
                data,
            },
        )
    };
    assert_failed(
        &emit(&mut f, 1, Hash([1; 32]), "tick", ints(&[1, 2])),
        ErrorCode::ServiceNotFound,
    );
    assert_failed(
        &emit(&mut f, 1, service, "tock", ints(&[1, 2])),
        ErrorCode::EventNotFound,
    );
    assert_failed(
        &emit(&mut f, 1, service, "tick", ints(&[1])),
        ErrorCode::InvalidEventData,
    );
    assert_failed(
        &emit(&mut f, 1, service, "tick", vec![0; 5_000]),
        ErrorCode::InvalidEventData,
    );
    // Account 5 runs nothing.
    assert_failed(
        &emit(&mut f, 5, service, "tick", ints(&[1, 2])),
        ErrorCode::NotAnEmitter,
    );
    // A leaving runner may not emit.
    let r = f.chain.run(
        3,
        Payload::UnregisterRunner {
            runner: runner_id(&service, &addr(3)),
        },
    );
    assert!(r.is_success());
    assert_failed(&f.emit(3, 1, 2), ErrorCode::NotAnEmitter);
    // Twice from one runner.
    assert!(f.emit(1, 1, 2).is_success());
    assert_failed(&f.emit(1, 1, 2), ErrorCode::AlreadyReported);
    // After the window runner 1's report counts no more: runner 2's opens the id afresh.
    f.chain.empty_blocks(params().event_window_ms / BLOCK_MS);
    assert!(f.emit(2, 1, 2).is_success());
    let record = f.chain.exec.event(&f.event(1, 2)).unwrap().unwrap();
    let reporters: Vec<_> = record.reports.iter().map(|r| r.owner).collect();
    assert_eq!((reporters, record.fired_at), (vec![addr(2)], None));
    // The report bond must be there.
    let mut g = Feed::new(
        2,
        Params {
            event_report_bond: BALANCE,
            ..params()
        },
    );
    assert_failed(&g.emit(1, 1, 2), ErrorCode::InsufficientBalance);
    // Fired: later reports are refused.
    let (a, b) = (f.emit_tx(1, 3, 4), f.emit_tx(2, 3, 4));
    assert!(
        f.chain
            .block(vec![a, b])
            .receipts
            .iter()
            .all(Receipt::is_success)
    );
    let record = f.chain.exec.event(&f.event(3, 4)).unwrap().unwrap();
    assert!(record.fired_at.is_some());
    assert_eq!(record.reports.len(), 2);
}

#[test]
fn a_quorum_of_emitters_fires_the_process_once_and_pays_them() {
    let mut f = Feed::new(4, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    // One report of four equal stakes: neither enough runners nor enough stake.
    let before: Vec<u64> = (0..10).map(|i| f.chain.balance(&addr(i))).collect();
    let first = f.emit(1, 2, 40);
    assert!(first.is_success());
    assert!(f.process(&id).walks == 0);
    assert!(
        f.chain
            .exec
            .event(&f.event(2, 40))
            .unwrap()
            .unwrap()
            .fired_at
            .is_none()
    );
    // The second: two runners holding half the stake, short of min_emitter_stake_bps 6,667.
    let second = f.emit(2, 2, 40);
    assert!(second.is_success());
    assert!(f.process(&id).walks == 0);
    // The third: three quarters. It fires at the end of this very block.
    let third = f.emit(3, 2, 40);
    assert!(third.is_success());
    let p = f.process(&id);
    assert_eq!((p.walks, p.executions), (1, 1));
    let event = f.event(2, 40);
    let exec_id = process_execution_id(&id, &event, 1);
    let e = f.execution(&exec_id);
    assert_eq!(e.payer, Payer::Process(id));
    assert_eq!(e.inputs, ints(&[2, 40]));
    assert_eq!(e.status, ExecutionStatus::Requested);
    // Each reporter got its gas (min_gas_price is its gas price) and its report bond back, and
    // the incentive for the one execution created: net, it earned the incentive.
    let incentive = params().emitter_incentive;
    let bond = params().event_report_bond;
    for (who, was) in before.iter().enumerate().take(4).skip(1) {
        assert_eq!(f.chain.balance(&addr(who)), was + incentive);
    }
    // Three reimbursements, one task node, three incentives: seven walk steps.
    let gas = first.gas_used + second.gas_used + third.gas_used;
    assert_eq!(
        f.process(&id).balance,
        1_000_000 - FEE - gas - 3 * bond - 3 * incentive - 7 * step_price()
    );
    // A fourth report is refused: the event fired, and never fires twice.
    assert_failed(&f.emit(4, 2, 40), ErrorCode::EventAlreadyFired);
    f.chain.empty_blocks(2);
    assert_eq!(f.process(&id).walks, 1);
    // The assignment refunded the escrow above the price to the process.
    let e = f.execution(&exec_id);
    assert_eq!(e.status, ExecutionStatus::Assigned);
    assert_eq!(e.escrow, PRICE);
    let balance = f.process(&id).balance;
    assert!(f.submit(&exec_id, ints(&[42])).is_success());
    assert_eq!(f.execution(&exec_id).status, ExecutionStatus::Completed);
    // The whole price was paid, nothing is left to refund.
    assert_eq!(f.process(&id).balance, balance);
}

#[test]
fn too_little_stake_does_not_fire_until_more_report() {
    let mut f = Feed::new(
        5,
        Params {
            min_emitter_stake_bps: 8_000,
            ..params()
        },
    );
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let txs = vec![f.emit_tx(1, 1, 1), f.emit_tx(2, 1, 1), f.emit_tx(3, 1, 1)];
    f.chain.block(txs);
    // Three runners with 60% of the stake: enough runners, not enough stake.
    assert_eq!(f.process(&id).walks, 0);
    assert!(f.emit(4, 1, 1).is_success());
    let p = f.process(&id);
    assert_eq!((p.walks, p.executions), (1, 1));
}

#[test]
fn a_filter_stops_its_branch_and_a_map_shapes_the_inputs() {
    let mut f = Feed::new(2, params());
    let s = f.service;
    // tick -> filter a > 10 -> map {a: b, b: 100} -> add
    let definition = ProcessDefinition {
        nodes: vec![
            trigger(s),
            Node::Filter {
                conditions: vec![Condition {
                    path: path(0, &["a"]),
                    op: Op::Gt,
                    value: Constant::Int(10),
                }],
            },
            Node::Map {
                fields: vec![
                    MapField {
                        name: "a".into(),
                        value: MapValue::Path(path(0, &["b"])),
                    },
                    MapField {
                        name: "b".into(),
                        value: MapValue::Constant(Constant::Int(100)),
                    },
                ],
            },
            task(s, "add", FEE),
        ],
        edges: edges(&[(0, 1), (1, 2), (2, 3)]),
    };
    let id = f.create(definition, 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 5, 7), f.emit_tx(2, 5, 7));
    let outcome = f.chain.block(vec![a, b]);
    assert_eq!(outcome.walks.len(), 1);
    assert!(
        outcome.walks[0].executions.is_empty(),
        "a = 5 is filtered out"
    );
    assert_eq!(f.process(&id).executions, 0);
    let (a, b) = (f.emit_tx(1, 11, 7), f.emit_tx(2, 11, 7));
    let outcome = f.chain.block(vec![a, b]);
    let created = &outcome.walks[0].executions;
    assert_eq!(created.len(), 1);
    assert_eq!(f.execution(&created[0]).inputs, ints(&[7, 100]));
}

#[test]
fn a_completion_chains_into_the_next_task() {
    let mut f = Feed::new(3, params());
    let id = f.create(chain_process(f.service), 1_000_000, 1_000_000);
    let txs = vec![
        f.emit_tx(1, 20, 22),
        f.emit_tx(2, 20, 22),
        f.emit_tx(3, 20, 22),
    ];
    f.chain.block(txs);
    let first = process_execution_id(&id, &f.event(20, 22), 1);
    assert_eq!(f.execution(&first).inputs, ints(&[20, 22]));
    // The runner completes `add` with 42 in block h; the walk resumes below it at the end of h.
    let r = f.submit(&first, ints(&[42]));
    assert!(r.is_success(), "{r:?}");
    let second = process_execution_id(&id, &first, 3);
    let e = f.execution(&second);
    assert_eq!((e.task.as_str(), e.inputs.clone()), ("double", ints(&[42])));
    assert_eq!(e.payer, Payer::Process(id));
    let p = f.process(&id);
    assert_eq!((p.walks, p.executions), (2, 2));
    assert!(f.submit(&second, ints(&[84])).is_success());
    assert_eq!(f.execution(&second).status, ExecutionStatus::Completed);
    // Nothing below `double`: no third walk.
    f.chain.empty_blocks(1);
    assert_eq!(f.process(&id).walks, 2);
    assert!(f.chain.exec.walk_queue().unwrap().is_empty());
}

#[test]
fn an_expired_or_error_execution_does_not_chain_and_refunds_the_process() {
    let mut f = Feed::new(2, params());
    let id = f.create(chain_process(f.service), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 1, 1), f.emit_tx(2, 1, 1));
    f.chain.block(vec![a, b]);
    let first = process_execution_id(&id, &f.event(1, 1), 1);
    f.chain.block(vec![]);
    let balance = f.process(&id).balance;
    let deadline = f.execution(&first).deadline.unwrap();
    while f.chain.now_ms() < deadline {
        f.chain.block(vec![]);
    }
    assert_eq!(f.execution(&first).status, ExecutionStatus::Expired);
    // The whole escrow came back to the process, and nothing ran below the task.
    assert_eq!(f.process(&id).balance, balance + PRICE);
    assert_eq!(f.process(&id).walks, 1);

    // An error result completes but has no outputs to chain on.
    let (a, b) = (f.emit_tx(1, 2, 2), f.emit_tx(2, 2, 2));
    f.chain.block(vec![a, b]);
    let first = process_execution_id(&id, &f.event(2, 2), 1);
    f.chain.block(vec![]);
    let owner = f.execution(&first).runner_owner.unwrap();
    let who = (0..10).find(|i| addr(*i) == owner).unwrap();
    let r = f.chain.run(
        who,
        Payload::SubmitResult {
            execution: first,
            result: TaskResult::Error(b"nope".to_vec()),
        },
    );
    assert!(r.is_success());
    assert_eq!(f.execution(&first).status, ExecutionStatus::Completed);
    f.chain.empty_blocks(1);
    assert_eq!(f.process(&id).walks, 2);
}

#[test]
fn a_process_short_of_balance_or_cap_skips_the_subtree_and_says_so() {
    let mut f = Feed::new(2, params());
    let s = f.service;
    // An EmitEvent's gas depends only on its size: measure one (a lone report fires nothing).
    let gas = f.emit(1, 0, 0).gas_used;
    // tick -> add (node 1), tick -> add (node 2): reimbursing two reporters (half of their gas
    // and bond each, as two processes fire) and the first task fit, the second task does not.
    let two = ProcessDefinition {
        nodes: vec![trigger(s), task(s, "add", FEE), task(s, "add", FEE)],
        edges: edges(&[(0, 1), (0, 2)]),
    };
    let owed = (gas + params().event_report_bond) / 2;
    let (step, incentive) = (step_price(), params().emitter_incentive);
    // Steps: two reimbursements, node 1 and its escrow, node 2 (its escrow does not fit), two
    // incentives; 500 left.
    let room = 2 * (step + owed) + step + FEE + step + 2 * (step + incentive) + 500;
    let poor = f.create(two.clone(), room, u64::MAX);
    let capped = f.create(two, 1_000_000, room);
    let (a, b) = (f.emit_tx(1, 3, 3), f.emit_tx(2, 3, 3));
    let outcome = f.chain.block(vec![a, b]);
    assert_eq!(outcome.receipts[0].gas_used, gas);
    assert_eq!(outcome.walks.len(), 2);
    for (id, reason) in [(poor, SkipCause::Balance), (capped, SkipCause::SpendCap)] {
        let walk = outcome.walks.iter().find(|w| w.process == id).unwrap();
        assert_eq!(
            walk.executions,
            vec![process_execution_id(&id, &f.event(3, 3), 1)]
        );
        assert_eq!(walk.reimbursed, 2 * owed);
        assert_eq!(walk.step_fees, 6 * step);
        assert_eq!(walk.skipped.len(), 1);
        assert_eq!((walk.skipped[0].node, walk.skipped[0].reason), (2, reason));
        let p = f.process(&id);
        assert_eq!((p.executions, p.skipped), (1, 1));
        assert_eq!(p.last_skip.unwrap().reason, reason);
    }
    // 500 left: less than one walk step, so it is paused, out of its trigger's index.
    let p = f.process(&poor);
    assert_eq!((p.balance, p.status), (500, ProcessStatus::Paused));
    assert_eq!(f.process(&capped).status, ProcessStatus::Open);
    // The cap resets with the block: the capped process spends again in the next one.
    let (a, b) = (f.emit_tx(1, 4, 4), f.emit_tx(2, 4, 4));
    let outcome = f.chain.block(vec![a, b]);
    let walk = outcome.walks.iter().find(|w| w.process == capped).unwrap();
    assert_eq!(walk.executions.len(), 1);
    // The paused one was resumed first, in the same block: the assignment of its execution
    // refunded the escrow above the price, enough for walk steps again.
    assert!(outcome.walks.iter().any(|w| w.process == poor));
    assert_eq!(
        f.execution(&process_execution_id(&poor, &f.event(3, 3), 1))
            .escrow,
        PRICE
    );
}

#[test]
fn walks_past_the_block_budget_wait_first_in_line() {
    // Room for one walk of 2 nodes and 2 reporters a block (the first always runs).
    let p = Params {
        walk_gas_per_block: 3_000,
        ..params()
    };
    let mut f = Feed::new(2, p);
    let ids: Vec<Hash> = (0..3)
        .map(|_| f.create(single_task(f.service), 1_000_000, 1_000_000))
        .collect();
    let (a, b) = (f.emit_tx(1, 9, 9), f.emit_tx(2, 9, 9));
    let outcome = f.chain.block(vec![a, b]);
    assert_eq!(outcome.walks.len(), 1);
    let queue = f.chain.exec.walk_queue().unwrap();
    assert_eq!(queue.len(), 1);
    let WalkJob::Event(job) = &queue[0] else {
        panic!("expected the event's job");
    };
    assert_eq!(job.firing, Some(3));
    let mut walked = vec![outcome.walks[0].process];
    for _ in 0..2 {
        let outcome = f.chain.block(vec![]);
        assert_eq!(outcome.walks.len(), 1);
        walked.push(outcome.walks[0].process);
    }
    assert!(f.chain.exec.walk_queue().unwrap().is_empty());
    // In process id order, each exactly once.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(walked, sorted);
    for id in &ids {
        assert_eq!(f.process(id).walks, 1);
    }
}

#[test]
fn reimbursement_is_split_across_the_processes_that_fire() {
    let mut f = Feed::new(2, params());
    let a = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let b = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let before = f.chain.balance(&addr(1));
    let (t1, t2) = (f.emit_tx(1, 6, 6), f.emit_tx(2, 6, 6));
    let outcome = f.chain.block(vec![t1, t2]);
    let bond = params().event_report_bond;
    let owed = |r: &Receipt| (r.gas_used + bond) / 2 * 2;
    assert_eq!(outcome.walks.len(), 2);
    let reimbursed: u64 = outcome.walks.iter().map(|w| w.reimbursed).sum();
    assert_eq!(
        reimbursed,
        owed(&outcome.receipts[0]) + owed(&outcome.receipts[1])
    );
    // Runner 1: its gas and bond back (rounding down, in halves), and the incentive from each
    // process.
    let incentive = params().emitter_incentive;
    let gas = outcome.receipts[0].gas_used;
    assert_eq!(
        f.chain.balance(&addr(1)),
        before - gas - bond + owed(&outcome.receipts[0]) + 2 * incentive
    );
    assert_eq!(f.process(&a).executions, 1);
    assert_eq!(f.process(&b).executions, 1);
}

#[test]
fn old_events_are_pruned_to_a_summary_and_never_fire_again() {
    let mut f = Feed::new(2, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 8, 8), f.emit_tx(2, 8, 8));
    f.chain.block(vec![a, b]);
    let event = f.event(8, 8);
    f.chain.empty_blocks(params().retention_ms / BLOCK_MS);
    assert!(f.chain.exec.event(&event).unwrap().is_none());
    let summary = f.chain.exec.event_summary(&event).unwrap().unwrap();
    assert_eq!(summary.reports, 2);
    assert!(summary.fired_at.is_some());
    assert_failed(&f.emit(1, 8, 8), ErrorCode::EventWindowClosed);
    assert_eq!(f.process(&id).walks, 1);
    // The execution it created expired unanswered and is pruned too, its status queryable.
    let exec_id = process_execution_id(&id, &event, 1);
    let deadline = f.execution(&exec_id).deadline.unwrap();
    f.chain
        .run_until_ms(deadline + params().retention_ms + 2 * BLOCK_MS);
    assert!(f.chain.exec.execution(&exec_id).unwrap().is_none());
    assert_eq!(
        f.chain
            .exec
            .execution_summary(&exec_id)
            .unwrap()
            .unwrap()
            .status,
        ExecutionStatus::Expired
    );
}

#[test]
fn refunds_to_a_closed_process_go_to_its_owner() {
    let mut f = Feed::new(2, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 5, 5), f.emit_tx(2, 5, 5));
    f.chain.block(vec![a, b]);
    let exec_id = process_execution_id(&id, &f.event(5, 5), 1);
    // The owner closes it in the block whose end assigns the execution: the escrow above the
    // price comes back to the owner, the process being closed.
    let before = f.chain.balance(&addr(OWNER));
    let left = f.process(&id).balance;
    let r = f.chain.run(OWNER, Payload::CloseProcess { process: id });
    assert!(r.is_success());
    assert_eq!(f.execution(&exec_id).status, ExecutionStatus::Assigned);
    assert_eq!(
        f.chain.balance(&addr(OWNER)),
        before - r.fee + left + params().process_deposit + FEE - PRICE
    );
    assert_eq!(f.process(&id).balance, 0);
}

// Issue 15, finding 8: events and processes where cheating does not pay.

/// tick -> 31 filters that always pass: the most walk steps a process may take while spending
/// nothing on tasks.
fn filter_chain(service: Hash, nodes: u32) -> ProcessDefinition {
    let mut definition = ProcessDefinition {
        nodes: vec![trigger(service)],
        edges: Vec::new(),
    };
    for i in 1..nodes {
        definition.nodes.push(Node::Filter {
            conditions: vec![Condition {
                path: path(0, &["a"]),
                op: Op::Ge,
                value: Constant::Int(i64::MIN),
            }],
        });
        definition.edges.push(Edge { from: i - 1, to: i });
    }
    definition
}

/// What a process pays for each walk step.
fn step_price() -> u64 {
    params().gas.walk_step * params().min_gas_price
}

#[test]
fn the_default_emitter_quorum_is_two_thirds_of_the_stake() {
    let defaults = Params::default();
    assert!(3 * defaults.min_emitter_stake_bps >= 2 * runnet_types::genesis::BPS);
    let low = Params {
        min_emitter_stake_bps: 6_666,
        ..Params::default()
    };
    let error = format!("{}", low.validate().unwrap_err());
    assert!(error.contains("min_emitter_stake_bps"), "{error}");
    // Two of four equal stakes are half: no longer a quorum; the third report is.
    let mut f = Feed::new(4, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 1, 1), f.emit_tx(2, 1, 1));
    f.chain.block(vec![a, b]);
    assert_eq!(f.process(&id).walks, 0);
    assert!(f.emit(3, 1, 1).is_success());
    assert_eq!(f.process(&id).walks, 1);
}

#[test]
fn a_window_that_closes_without_quorum_is_dropped() {
    let mut f = Feed::new(4, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    // One early report of an id anyone can predict (a griefer's), then nothing for a window.
    assert!(f.emit(1, 7, 7).is_success());
    f.chain
        .run_until_ms(f.chain.now_ms() + params().event_window_ms + BLOCK_MS);
    // Its report is forgotten: the id takes reports again and fires on a quorum of its own.
    let (a, b) = (f.emit_tx(2, 7, 7), f.emit_tx(3, 7, 7));
    let outcome = f.chain.block(vec![a, b]);
    assert!(
        outcome.receipts.iter().all(Receipt::is_success),
        "{:?}",
        outcome.receipts
    );
    assert_eq!(f.process(&id).walks, 0, "two of four are not two thirds");
    assert!(f.emit(4, 7, 7).is_success());
    assert_eq!(f.process(&id).walks, 1);
    let record = f.chain.exec.event(&f.event(7, 7)).unwrap().unwrap();
    let reporters: Vec<_> = record.reports.iter().map(|r| r.owner).collect();
    assert_eq!(reporters, vec![addr(2), addr(3), addr(4)]);
    // A lone report leaves nothing behind once retention passes: no summary, and the id still
    // fires later.
    assert!(f.emit(1, 9, 9).is_success());
    f.chain.empty_blocks(params().retention_ms / BLOCK_MS + 1);
    assert!(f.chain.exec.event(&f.event(9, 9)).unwrap().is_none());
    assert!(
        f.chain
            .exec
            .event_summary(&f.event(9, 9))
            .unwrap()
            .is_none()
    );
    let txs = vec![f.emit_tx(1, 9, 9), f.emit_tx(2, 9, 9), f.emit_tx(3, 9, 9)];
    let outcome = f.chain.block(txs);
    assert!(outcome.receipts.iter().all(Receipt::is_success));
    assert_eq!(f.process(&id).walks, 2);
}

#[test]
fn walk_steps_are_paid_by_the_process() {
    let mut f = Feed::new(2, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 5, 5), f.emit_tx(2, 5, 5));
    let outcome = f.chain.block(vec![a, b]);
    let walk = &outcome.walks[0];
    assert_eq!(walk.executions.len(), 1);
    // Two reimbursements, one task node, two incentives: five steps.
    assert_eq!(
        f.process(&id).balance,
        1_000_000 - FEE - walk.reimbursed - walk.incentives - 5 * step_price()
    );
}

#[test]
fn a_process_that_cannot_pay_for_its_walk_stalls_no_one() {
    // Room for the victim's walk (2 nodes, 2 reporters: 6 steps) and nothing more.
    let p = Params {
        walk_gas_per_block: 6 * params().gas.walk_step,
        ..params()
    };
    let mut f = Feed::new(2, p);
    let s = f.service;
    let nodes = params().max_process_nodes;
    let spammers: Vec<Hash> = (0..3)
        .map(|_| f.create(filter_chain(s, nodes), 0, 1_000_000))
        .collect();
    let victim = f.create(single_task(s), 1_000_000, 1_000_000);
    let (a, b) = (f.emit_tx(1, 3, 3), f.emit_tx(2, 3, 3));
    let outcome = f.chain.block(vec![a, b]);
    assert!(outcome.walks.iter().any(|w| w.process == victim));
    assert!(f.chain.exec.walk_queue().unwrap().is_empty());
    f.chain.empty_blocks(3);
    for id in &spammers {
        let p = f.process(id);
        assert_eq!(
            (p.walks, p.status),
            (0, ProcessStatus::Paused),
            "walked for free"
        );
    }
    // Funded, a spammer walks again, and pays for every step.
    let r = f.chain.run(
        3,
        Payload::FundProcess {
            process: spammers[0],
            amount: 100_000,
        },
    );
    assert!(r.is_success(), "{r:?}");
    let (a, b) = (f.emit_tx(1, 4, 4), f.emit_tx(2, 4, 4));
    f.chain.block(vec![a, b]);
    f.chain.empty_blocks(3);
    let spammer = f.process(&spammers[0]);
    assert_eq!(spammer.walks, 1);
    assert!(spammer.balance <= 100_000 - u64::from(nodes - 1) * step_price());
    assert_eq!(f.process(&victim).walks, 2);
}

#[test]
fn emit_event_pays_for_the_bytes_it_stores() {
    let mut f = Feed::new(2, params());
    let tx = f.emit_tx(1, 1, 2);
    let len = tx.encode().len() as u64;
    let r = f.chain.block(vec![tx]).receipts.remove(0);
    assert!(r.is_success());
    let gas = &params().gas;
    assert_eq!(
        r.gas_used,
        gas.emit_event + gas.per_byte * len + gas.per_stored_byte * 16
    );
}

#[test]
fn false_reports_below_the_quorum_lose_money() {
    let mut f = Feed::new(4, params());
    let id = f.create(single_task(f.service), 1_000_000, 1_000_000);
    // Runners 1 and 2 hold half the stake: they report a fabricated tick every block.
    let before = [f.chain.balance(&addr(1)), f.chain.balance(&addr(2))];
    let mut fees = [0u64; 2];
    for seq in 0..3 {
        let txs = vec![f.emit_tx(1, 1_000 + seq, 0), f.emit_tx(2, 1_000 + seq, 0)];
        let outcome = f.chain.block(txs);
        for (i, r) in outcome.receipts.iter().enumerate() {
            assert!(r.is_success(), "{r:?}");
            fees[i] += r.fee;
        }
    }
    f.chain.empty_blocks(params().retention_ms / BLOCK_MS + 1);
    assert_eq!(f.process(&id).walks, 0);
    assert_eq!(f.process(&id).balance, 1_000_000);
    for (i, (was, fee)) in before.iter().zip(fees).enumerate() {
        // Their gas, and the three bonds, burned: nobody reimbursed them.
        let lost = was - f.chain.balance(&addr(i + 1));
        assert_eq!(lost, fee + 3 * params().event_report_bond);
    }
    // Beside a true event: runner 1 reports another payload than the quorum's.
    let burned = f.chain.exec.burned().unwrap();
    let honest = f.chain.balance(&addr(3));
    let txs = vec![
        f.emit_tx(1, 5, 6),
        f.emit_tx(2, 5, 5),
        f.emit_tx(3, 5, 5),
        f.emit_tx(4, 5, 5),
    ];
    let outcome = f.chain.block(txs);
    assert!(outcome.receipts.iter().all(Receipt::is_success));
    assert_eq!(f.process(&id).walks, 1);
    // The quorum's reporters are made whole and earn the incentive.
    assert_eq!(
        f.chain.balance(&addr(3)),
        honest + params().emitter_incentive
    );
    assert!(f.chain.exec.burned().unwrap() > burned);
}
