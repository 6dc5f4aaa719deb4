//! The payload rules of docs/economy.md for accounts, staking, services and runners. Each handler
//! checks before it writes where it can; the overlay's journal undoes the rest when a rule fails.

use crate::executor::{ApplyError, BlockRun};
use crate::keys::{self, meta_names};
use crate::objects::{
    self, Account, Runner, RunnerStatus, Service, Validator, ValidatorStatus, runner_id, service_id,
};
use crate::receipt::{ErrorCode, fail};
use crate::store::StoreError;
use runnet_types::crypto::Domain;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::tx::{MAX_PEER_ID_LEN, validator_binding_message};
use runnet_types::{Address, Amount, Hash, PublicKey, Signature, VrfPublicKey, encoding};

type Applied = Result<(), ApplyError>;

impl BlockRun<'_> {
    pub(crate) fn account(&self, address: &Address) -> Result<Account, StoreError> {
        Ok(self
            .overlay
            .get(&keys::account(address))?
            .unwrap_or_default())
    }

    pub(crate) fn put_account(&mut self, address: &Address, account: &Account) {
        self.overlay.put(keys::account(address), account);
    }

    pub(crate) fn debit(&mut self, address: &Address, amount: Amount, what: &str) -> Applied {
        let mut account = self.account(address)?;
        if account.balance < amount {
            return fail(
                ErrorCode::InsufficientBalance,
                format!("{what} needs {amount}, balance is {}", account.balance),
            )?;
        }
        account.balance -= amount;
        self.put_account(address, &account);
        Ok(())
    }

    pub(crate) fn credit(&mut self, address: &Address, amount: Amount) -> Applied {
        let mut account = self.account(address)?;
        account.balance = match account.balance.checked_add(amount) {
            Some(b) => b,
            None => return fail(ErrorCode::Overflow, "balance would overflow")?,
        };
        self.put_account(address, &account);
        Ok(())
    }

    /// Tokens leaving the supply (slashes) are counted, so the supply invariant still balances.
    pub(crate) fn burn(&mut self, amount: Amount) -> Applied {
        if amount == 0 {
            return Ok(());
        }
        let key = keys::meta(meta_names::BURNED);
        let burned: Amount = self.overlay.get(&key)?.unwrap_or(0);
        match burned.checked_add(amount) {
            Some(total) => self.overlay.put(key, &total),
            None => return fail(ErrorCode::Overflow, "burned counter would overflow")?,
        }
        Ok(())
    }

    pub(crate) fn transfer(&mut self, from: &Address, to: &Address, amount: Amount) -> Applied {
        if amount == 0 {
            return fail(ErrorCode::ZeroAmount, "transfer of 0")?;
        }
        self.debit(from, amount, "transfer")?;
        self.credit(to, amount)
    }

    pub(crate) fn bond_validator(
        &mut self,
        sender: &Address,
        consensus_key: &PublicKey,
        vrf_key: &VrfPublicKey,
        peer_id: &str,
        amount: Amount,
        binding: &Signature,
    ) -> Applied {
        if amount == 0 {
            return fail(ErrorCode::ZeroAmount, "bond of 0")?;
        }
        if peer_id.is_empty() || peer_id.len() > MAX_PEER_ID_LEN {
            return fail(
                ErrorCode::InvalidPeerId,
                format!("peer id must be 1 to {MAX_PEER_ID_LEN} bytes"),
            )?;
        }
        if consensus_key.is_weak() {
            return fail(
                ErrorCode::InvalidBinding,
                "the consensus key is of small order: anyone could sign with it",
            )?;
        }
        let message = validator_binding_message(self.chain_id, sender, vrf_key, peer_id);
        if consensus_key
            .verify(Domain::ValidatorBinding, &message, binding)
            .is_err()
        {
            return fail(
                ErrorCode::InvalidBinding,
                "the consensus key's binding signature does not verify",
            )?;
        }
        let key_owner: Option<Address> = self.overlay.get(&keys::consensus_key(consensus_key))?;
        if key_owner.is_some_and(|owner| owner != *sender) {
            return fail(
                ErrorCode::ConsensusKeyInUse,
                "consensus key belongs to another validator",
            )?;
        }
        let validator_key = keys::validator(sender);
        let existing: Option<Validator> = self.overlay.get(&validator_key)?;
        let mut validator = match existing {
            Some(v) => {
                if v.consensus_key != *consensus_key || v.vrf_key != *vrf_key {
                    return fail(
                        ErrorCode::ValidatorKeysMismatch,
                        "a validator keeps its consensus and VRF keys",
                    )?;
                }
                v
            }
            None => Validator {
                address: *sender,
                consensus_key: *consensus_key,
                vrf_key: *vrf_key,
                peer_id: String::new(),
                stake: 0,
                unbonding: 0,
                status: ValidatorStatus::Active,
            },
        };
        self.debit(sender, amount, "bond")?;
        validator.stake = match validator.stake.checked_add(amount) {
            Some(s) => s,
            None => return fail(ErrorCode::Overflow, "stake would overflow")?,
        };
        validator.peer_id = peer_id.to_string();
        if validator.status == ValidatorStatus::Unbonding {
            validator.status = ValidatorStatus::Active;
        }
        self.overlay.put(validator_key, &validator);
        self.overlay.put(keys::consensus_key(consensus_key), sender);
        Ok(())
    }

    pub(crate) fn unbond_validator(&mut self, sender: &Address, amount: Amount) -> Applied {
        if amount == 0 {
            return fail(ErrorCode::ZeroAmount, "unbond of 0")?;
        }
        let key = keys::validator(sender);
        let Some(mut validator) = self.overlay.get::<Validator>(&key)? else {
            return fail(
                ErrorCode::NotAValidator,
                format!("{sender} is not a validator"),
            )?;
        };
        if amount > validator.stake {
            return fail(
                ErrorCode::UnbondExceedsStake,
                format!("unbond {amount} exceeds stake {}", validator.stake),
            )?;
        }
        validator.stake -= amount;
        validator.unbonding += amount;
        if validator.stake == 0 && validator.status == ValidatorStatus::Active {
            validator.status = ValidatorStatus::Unbonding;
        }
        self.overlay.put(key, &validator);
        // Unbonds of one validator released at the same chain time share one entry.
        let release_at = self.now_ms.saturating_add(self.params.unbonding_ms);
        let release_key = keys::validator_release(release_at, sender);
        let pending: Amount = self.overlay.get(&release_key)?.unwrap_or(0);
        self.overlay.put(release_key, &(pending + amount));
        Ok(())
    }

    pub(crate) fn unjail(&mut self, sender: &Address) -> Applied {
        let key = keys::validator(sender);
        let Some(mut validator) = self.overlay.get::<Validator>(&key)? else {
            return fail(
                ErrorCode::NotAValidator,
                format!("{sender} is not a validator"),
            )?;
        };
        let ValidatorStatus::Jailed { until } = validator.status else {
            return fail(ErrorCode::NotJailed, "validator is not jailed")?;
        };
        if self.now_ms < until {
            return fail(
                ErrorCode::JailNotOver,
                format!("jailed until chain time {until} ms, now {} ms", self.now_ms),
            )?;
        }
        validator.status = if validator.stake > 0 {
            ValidatorStatus::Active
        } else {
            ValidatorStatus::Unbonding
        };
        self.overlay.put(key, &validator);
        // Its downtime record starts afresh.
        self.overlay.delete(keys::validator_liveness(sender));
        Ok(())
    }

    pub(crate) fn publish_service(
        &mut self,
        owner: &Address,
        definition_bytes: &[u8],
        bundle: &Bundle,
    ) -> Applied {
        let definition = match ServiceDefinition::from_canonical_bytes(
            definition_bytes,
            &self.params.definition_limits(),
        ) {
            Ok(d) => d,
            Err(e) => return fail(ErrorCode::InvalidDefinition, e.to_string())?,
        };
        if bundle.stored_len() as u64 > self.params.max_bundle_bytes {
            return fail(
                ErrorCode::BundleTooLarge,
                format!(
                    "bundle is {} bytes, the limit is {}",
                    bundle.stored_len(),
                    self.params.max_bundle_bytes
                ),
            )?;
        }
        crate::bundle::check_bundle(self.vm, bundle, &definition, self.params)?;
        let digest = bundle.digest();
        let id = service_id(owner, definition_bytes, &digest);
        let key = keys::service(&id);
        if self.overlay.get_raw(&key)?.is_some() {
            return fail(
                ErrorCode::ServiceExists,
                format!("service {id} already exists"),
            )?;
        }
        if let Some(bytes) = objects::stored_bundle(bundle) {
            let bundle_key = keys::bundle(&digest);
            if self.overlay.get_raw(&bundle_key)?.is_none() {
                self.overlay.put_raw(bundle_key, bytes.to_vec());
            }
        }
        self.overlay.put(
            key,
            &Service {
                id,
                owner: *owner,
                definition: definition_bytes.to_vec(),
                bundle_digest: digest,
                wasm: matches!(bundle, Bundle::Wasm(_)),
                published_at: self.height,
            },
        );
        Ok(())
    }

    pub(crate) fn register_runner(
        &mut self,
        owner: &Address,
        service: &Hash,
        stake: Amount,
        price_per_call: Amount,
        price_per_kib: Amount,
        max_open: u32,
    ) -> Applied {
        if self.overlay.get_raw(&keys::service(service))?.is_none() {
            return fail(ErrorCode::ServiceNotFound, format!("no service {service}"))?;
        }
        if stake < self.params.min_runner_stake {
            return fail(
                ErrorCode::StakeBelowMinimum,
                format!(
                    "stake {stake} is below min_runner_stake {}",
                    self.params.min_runner_stake
                ),
            )?;
        }
        if max_open == 0 {
            return fail(
                ErrorCode::InvalidRunnerParams,
                "max_open must be at least 1",
            )?;
        }
        let supply = self.supply_cap()?;
        if price_per_call > supply || price_per_kib > supply {
            return fail(
                ErrorCode::InvalidRunnerParams,
                "prices are capped at the total supply",
            )?;
        }
        let id = runner_id(service, owner);
        let key = keys::runner(&id);
        if let Some(existing) = self.overlay.get::<Runner>(&key)?
            && existing.status != RunnerStatus::Left
        {
            return fail(
                ErrorCode::RunnerExists,
                format!("runner {id} is registered ({:?})", existing.status),
            )?;
        }
        self.debit(owner, stake, "runner stake")?;
        self.overlay.put(
            key,
            &Runner {
                id,
                service: *service,
                owner: *owner,
                stake,
                price_per_call,
                price_per_kib,
                max_open,
                status: RunnerStatus::Active,
                open_executions: 0,
                open_duties: 0,
                release_at: None,
                missed_log: 0,
                duties: 0,
                missed: 0,
            },
        );
        self.overlay.put(keys::service_runner(service, &id), &());
        Ok(())
    }

    /// A jailed runner's owner returns it to work once its jail is over, adding `stake` from its
    /// balance; it must then hold at least `min_runner_stake`. Its duty record starts afresh.
    pub(crate) fn unjail_runner(&mut self, sender: &Address, id: &Hash, stake: Amount) -> Applied {
        let (key, mut runner) = self.owned_runner(sender, id, "unjail")?;
        let RunnerStatus::Jailed { until } = runner.status else {
            return fail(
                ErrorCode::NotJailed,
                format!("runner is {:?}", runner.status),
            )?;
        };
        if self.now_ms < until {
            return fail(
                ErrorCode::JailNotOver,
                format!("jailed until chain time {until} ms, now {} ms", self.now_ms),
            )?;
        }
        let Some(total) = runner.stake.checked_add(stake) else {
            return fail(ErrorCode::Overflow, "stake would overflow")?;
        };
        if total < self.params.min_runner_stake {
            return fail(
                ErrorCode::StakeBelowMinimum,
                format!(
                    "stake {total} after unjailing is below min_runner_stake {}",
                    self.params.min_runner_stake
                ),
            )?;
        }
        if stake > 0 {
            self.debit(sender, stake, "runner stake")?;
        }
        runner.stake = total;
        runner.status = RunnerStatus::Active;
        runner.missed_log = 0;
        self.overlay.put(key, &runner);
        Ok(())
    }

    /// The runner `id` with its key, when `sender` owns it (`action` names what it asked, for
    /// the refusal).
    fn owned_runner(
        &mut self,
        sender: &Address,
        id: &Hash,
        action: &str,
    ) -> Result<(Vec<u8>, Runner), ApplyError> {
        let key = keys::runner(id);
        let Some(runner) = self.overlay.get::<Runner>(&key)? else {
            return fail(ErrorCode::RunnerNotFound, format!("no runner {id}"))?;
        };
        if runner.owner != *sender {
            return fail(
                ErrorCode::NotRunnerOwner,
                format!("only the runner's owner may {action} it"),
            )?;
        }
        Ok((key, runner))
    }

    pub(crate) fn unregister_runner(&mut self, sender: &Address, id: &Hash) -> Applied {
        let (key, mut runner) = self.owned_runner(sender, id, "unregister")?;
        // A jailed runner may leave too: its downtime slash is already taken.
        if !matches!(
            runner.status,
            RunnerStatus::Active | RunnerStatus::Jailed { .. }
        ) {
            return fail(
                ErrorCode::RunnerNotActive,
                format!("runner is {:?}", runner.status),
            )?;
        }
        runner.status = RunnerStatus::Leaving;
        if runner.open_duties == 0 {
            self.schedule_runner_release(&mut runner);
        }
        self.overlay.put(key, &runner);
        Ok(())
    }

    /// A leaving runner with no open duty gets its stake back `runner_unbonding_ms` of chain
    /// time later.
    pub(crate) fn schedule_runner_release(&mut self, runner: &mut Runner) {
        let at = self.now_ms.saturating_add(self.params.runner_unbonding_ms);
        runner.release_at = Some(at);
        self.overlay.put(keys::runner_release(at, &runner.id), &());
    }

    /// End of block, step 4: stake whose unbonding period ended by this block's chain time goes
    /// home, in (release time, kind, id) order: the head of the releases by time.
    pub(crate) fn release_due(&mut self) -> Applied {
        let mut cursor: Option<Vec<u8>> = None;
        while let Some((key, value)) = self
            .overlay
            .first_after(keys::RELEASES, cursor.as_deref())?
        {
            let at = keys::due_of(keys::RELEASES, &key)
                .ok_or_else(|| StoreError::Corrupt("release key".into()))?;
            if at > self.now_ms {
                break;
            }
            let rest = &key[keys::RELEASES.len() + 8..];
            match rest.split_first() {
                Some((&keys::RELEASE_VALIDATOR, address)) => {
                    let address = Address::from_slice(address)
                        .ok_or_else(|| StoreError::Corrupt("release key".into()))?;
                    let amount: Amount = encoding::decode(&value)
                        .map_err(|e| StoreError::Corrupt(format!("release amount: {e}")))?;
                    self.release_validator(&address, amount)?;
                }
                Some((&keys::RELEASE_RUNNER, id)) => {
                    let id = Hash::from_slice(id)
                        .ok_or_else(|| StoreError::Corrupt("release key".into()))?;
                    self.release_runner(&id)?;
                }
                _ => return Err(StoreError::Corrupt("unknown release kind".into()).into()),
            }
            self.overlay.delete(key.clone());
            cursor = Some(key);
        }
        Ok(())
    }

    fn release_validator(&mut self, address: &Address, amount: Amount) -> Applied {
        let key = keys::validator(address);
        let Some(mut validator) = self.overlay.get::<Validator>(&key)? else {
            return Err(
                StoreError::Corrupt(format!("release for unknown validator {address}")).into(),
            );
        };
        // Slashing may have taken part of what was unbonding; release what is left of it.
        let amount = amount.min(validator.unbonding);
        validator.unbonding -= amount;
        self.overlay.put(key, &validator);
        self.credit_infallible(address, amount)
    }

    fn release_runner(&mut self, id: &Hash) -> Applied {
        let key = keys::runner(id);
        let Some(mut runner) = self.overlay.get::<Runner>(&key)? else {
            return Err(StoreError::Corrupt(format!("release for unknown runner {id}")).into());
        };
        let amount = runner.stake;
        runner.stake = 0;
        runner.status = RunnerStatus::Left;
        runner.release_at = None;
        let owner = runner.owner;
        self.overlay.put(key, &runner);
        self.overlay
            .delete(keys::service_runner(&runner.service, id));
        self.credit_infallible(&owner, amount)
    }

    /// A credit of tokens that already exist in the supply cannot overflow a balance; if it
    /// does, the state is corrupt.
    fn credit_infallible(&mut self, address: &Address, amount: Amount) -> Applied {
        self.credit(address, amount).map_err(|e| match e {
            ApplyError::Tx(f) => ApplyError::Fatal(StoreError::Corrupt(f.detail).into()),
            fatal => fatal,
        })
    }

    /// Prices are capped at the total supply, so price arithmetic in u128 never overflows.
    fn supply_cap(&self) -> Result<Amount, StoreError> {
        Ok(self
            .overlay
            .get(&keys::meta(meta_names::SUPPLY))?
            .unwrap_or(Amount::MAX))
    }
}
