;; mixer: a costly task whose cost the caller chooses. It applies the splitmix64 finaliser
;; `rounds` times to `seed` and returns the last value: every round depends on the one before,
;; so nothing can be skipped, and fuel grows linearly with `rounds`.
;;
;; Input {rounds: int, seed: int}: rounds at offset 0, seed at offset 8.
;; Output {digest: int}: 8 bytes.
(module
  (import "env" "output" (func $output (param i32 i32)))
  (import "env" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)

  (data (i32.const 16) "input must be 16 bytes")   ;; 22 bytes
  (data (i32.const 48) "rounds must not be negative")   ;; 27 bytes

  (func (export "alloc") (param $len i32) (result i32)
    (i32.const 1024))

  (func (export "mix") (param $ptr i32) (param $len i32)
    (local $rounds i64) (local $x i64) (local $z i64)
    (if (i32.ne (local.get $len) (i32.const 16))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $rounds (i64.load (local.get $ptr)))
    (local.set $x (i64.load offset=8 (local.get $ptr)))
    (if (i64.lt_s (local.get $rounds) (i64.const 0))
      (then (call $error (i32.const 48) (i32.const 27)) (return)))
    (block $done
      (loop $round
        (br_if $done (i64.eqz (local.get $rounds)))
        ;; z = x + golden gamma; z = (z ^ z >> 30) * C1; z = (z ^ z >> 27) * C2; x = z ^ z >> 31
        (local.set $z (i64.add (local.get $x) (i64.const 0x9E3779B97F4A7C15)))
        (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 30)))
                               (i64.const 0xBF58476D1CE4E5B9)))
        (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 27)))
                               (i64.const 0x94D049BB133111EB)))
        (local.set $x (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 31))))
        (local.set $rounds (i64.sub (local.get $rounds) (i64.const 1)))
        (br $round)))
    (i64.store (i32.const 64) (local.get $x))
    (call $output (i32.const 64) (i32.const 8)))
)
