;; text: byte transforms on strings and byte strings.
;;
;; upper:   {text: string} -> {text: string}, ASCII a-z to A-Z, every other byte unchanged (so
;;          UTF-8 stays UTF-8).
;; reverse: {data: bytes} -> {data: bytes}, the bytes in reverse order.
;; Both records are one field: a u32 little-endian length, then that many bytes.
(module
  (import "env" "output" (func $output (param i32 i32)))
  (import "env" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)

  (data (i32.const 16) "malformed input record")   ;; 22 bytes

  ;; Bump allocator above the static data; grows memory as inputs and outputs need.
  (global $heap (mut i32) (i32.const 1024))
  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; Pages needed to reach $end, rounded up, minus the pages there are.
    (local.set $pages
      (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
               (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then (unreachable)))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; Length of the one length-prefixed field, or -1 when the record is malformed.
  (func $field_len (param $ptr i32) (param $len i32) (result i32)
    (local $n i32)
    (if (i32.lt_u (local.get $len) (i32.const 4))
      (then (return (i32.const -1))))
    (local.set $n (i32.load (local.get $ptr)))
    (if (i32.ne (i32.add (local.get $n) (i32.const 4)) (local.get $len))
      (then (return (i32.const -1))))
    (local.get $n))

  (func (export "upper") (param $ptr i32) (param $len i32)
    (local $n i32) (local $out i32) (local $i i32) (local $c i32)
    (local.set $n (call $field_len (local.get $ptr) (local.get $len)))
    (if (i32.eq (local.get $n) (i32.const -1))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $out (call $alloc (local.get $len)))
    (i32.store (local.get $out) (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u offset=4 (i32.add (local.get $ptr) (local.get $i))))
        ;; c - 'a' < 26 (unsigned) means a-z.
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
        (i32.store8 offset=4 (i32.add (local.get $out) (local.get $i)) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $output (local.get $out) (local.get $len)))

  (func (export "reverse") (param $ptr i32) (param $len i32)
    (local $n i32) (local $out i32) (local $i i32)
    (local.set $n (call $field_len (local.get $ptr) (local.get $len)))
    (if (i32.eq (local.get $n) (i32.const -1))
      (then (call $error (i32.const 16) (i32.const 22)) (return)))
    (local.set $out (call $alloc (local.get $len)))
    (i32.store (local.get $out) (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        ;; out[4 + i] = in[4 + n - 1 - i]
        (i32.store8 offset=4 (i32.add (local.get $out) (local.get $i))
          (i32.load8_u offset=3
            (i32.sub (i32.add (local.get $ptr) (local.get $n)) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $output (local.get $out) (local.get $len)))
)
