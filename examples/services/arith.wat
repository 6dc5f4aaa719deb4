;; arith: add and multiply two signed 64-bit integers, refusing overflow.
;;
;; Input record {a: int, b: int}: 16 bytes, a at offset 0 and b at offset 8 (fields in name
;; order, each an i64 little endian). Output {sum: int} or {product: int}: 8 bytes.
(module
  (import "env" "output" (func $output (param i32 i32)))
  (import "env" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)

  ;; Error messages, reported with env.error.
  (data (i32.const 16) "input must be 16 bytes")   ;; 22 bytes
  (data (i32.const 48) "overflow")                 ;; 8 bytes

  ;; The input is small and fixed, so one spot at 1024 is enough; the 8-byte output goes at 64.
  (func (export "alloc") (param $len i32) (result i32)
    (i32.const 1024))

  (func (export "add") (param $ptr i32) (param $len i32)
    (local $a i64) (local $b i64) (local $sum i64)
    (if (i32.ne (local.get $len) (i32.const 16))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $a (i64.load (local.get $ptr)))
    (local.set $b (i64.load offset=8 (local.get $ptr)))
    (local.set $sum (i64.add (local.get $a) (local.get $b)))
    ;; Signed overflow: a and b share a sign that the sum does not.
    (if (i64.lt_s
          (i64.and (i64.xor (local.get $a) (local.get $sum))
                   (i64.xor (local.get $b) (local.get $sum)))
          (i64.const 0))
      (then (call $error (i32.const 48) (i32.const 8)) (return)))
    (i64.store (i32.const 64) (local.get $sum))
    (call $output (i32.const 64) (i32.const 8)))

  (func (export "mul") (param $ptr i32) (param $len i32)
    (local $a i64) (local $b i64) (local $product i64)
    (if (i32.ne (local.get $len) (i32.const 16))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $a (i64.load (local.get $ptr)))
    (local.set $b (i64.load offset=8 (local.get $ptr)))
    (local.set $product (i64.mul (local.get $a) (local.get $b)))
    (if (i64.ne (local.get $a) (i64.const 0))
      (then
        ;; -1 * MIN overflows, and dividing MIN by -1 below would trap: test it first.
        (if (i32.and (i64.eq (local.get $a) (i64.const -1))
                     (i64.eq (local.get $b) (i64.const 0x8000000000000000)))
          (then (call $error (i32.const 48) (i32.const 8)) (return)))
        ;; Otherwise the product overflowed exactly when dividing it back does not give b.
        (if (i64.ne (i64.div_s (local.get $product) (local.get $a)) (local.get $b))
          (then (call $error (i32.const 48) (i32.const 8)) (return)))))
    (i64.store (i32.const 64) (local.get $product))
    (call $output (i32.const 64) (i32.const 8)))
)
