;; factor: a public_effect service. `factor` finds two factors of n by trial division; a composite
;; number can have several factorisations and any is a correct answer, so verifiers do not re-run
;; it and compare, they run the cheap `check_factor` on (inputs, outputs) instead.
;;
;; factor:       {n: int} -> {p: int, q: int} with p * q = n and 1 < p <= q;
;;               env.error when n < 4 or n is prime.
;; check_factor: {inputs: {n: int}, outputs: {p: int, q: int}} -> {valid: bool}
;;               Input is the inputs record then the outputs record: n at 0, p at 8, q at 16.
;;               Output is one byte, 1 when p > 1, q > 1 and p * q = n exactly.
(module
  (import "env" "output" (func $output (param i32 i32)))
  (import "env" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)

  (data (i32.const 16) "malformed input record")   ;; 22 bytes
  (data (i32.const 48) "no factors: n is below 4 or prime")   ;; 33 bytes

  (func (export "alloc") (param $len i32) (result i32)
    (i32.const 1024))

  (func (export "factor") (param $ptr i32) (param $len i32)
    (local $n i64) (local $d i64)
    (if (i32.ne (local.get $len) (i32.const 8))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $n (i64.load (local.get $ptr)))
    (if (i64.lt_s (local.get $n) (i64.const 4))
      (then (call $error (i32.const 48) (i32.const 33)) (return)))
    (local.set $d (i64.const 2))
    (block $prime
      (loop $try
        ;; Unsigned: d * d stays below 2^64 for every d this loop can reach with n < 2^63.
        (br_if $prime (i64.gt_u (i64.mul (local.get $d) (local.get $d)) (local.get $n)))
        (if (i64.eqz (i64.rem_u (local.get $n) (local.get $d)))
          (then
            (i64.store (i32.const 64) (local.get $d))
            (i64.store (i32.const 72) (i64.div_u (local.get $n) (local.get $d)))
            (call $output (i32.const 64) (i32.const 16))
            (return)))
        (local.set $d (i64.add (local.get $d) (i64.const 1)))
        (br $try)))
    (call $error (i32.const 48) (i32.const 33)))

  (func (export "check_factor") (param $ptr i32) (param $len i32)
    (local $n i64) (local $p i64) (local $q i64) (local $valid i32)
    (if (i32.ne (local.get $len) (i32.const 24))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $n (i64.load (local.get $ptr)))
    (local.set $p (i64.load offset=8 (local.get $ptr)))
    (local.set $q (i64.load offset=16 (local.get $ptr)))
    ;; Dividing instead of multiplying: p * q could overflow, n / q cannot (q > 1).
    (if (i32.and (i64.gt_s (local.get $n) (i64.const 0))
                 (i32.and (i64.gt_s (local.get $p) (i64.const 1))
                          (i64.gt_s (local.get $q) (i64.const 1))))
      (then
        (local.set $valid
          (i32.and (i64.eqz (i64.rem_u (local.get $n) (local.get $q)))
                   (i64.eq (i64.div_u (local.get $n) (local.get $q)) (local.get $p))))))
    (i32.store8 (i32.const 64) (local.get $valid))
    (call $output (i32.const 64) (i32.const 1)))
)
