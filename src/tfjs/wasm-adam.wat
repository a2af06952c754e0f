;; One Adam update of a float32 tensor, four elements at a time (WebAssembly SIMD), on the tfjs
;; wasm backend's own memory. The source of src/tfjs/wasm-adam.binary.ts: edit here, then run
;; `npm run build:wasm` (test/tfjs/wasm-adam.test.ts fails while the two differ).
;;
;; adam(w, m, v, g, wOut, mOut, vOut, n, β1, 1−β1, β2, 1−β2, stepSize, √bc2, ε): byte offsets of
;; n-float arrays in the memory, then the constants, each rounded to float32 by the call:
;;   m' = m·β1 + g·(1−β1)
;;   v' = v·β2 + g²·(1−β2)
;;   w' = w − stepSize · m' / (√v' / √bc2 + ε)
;; Each line is the float32 operations of src/train/optimizers.ts's tensor ops, in their order, so
;; the results are the same bits. The memory is imported as a plain one here; the build also makes a
;; variant importing a shared one (1 to 65536 pages) for tfjs's threaded build.
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $w i32) (param $m i32) (param $v i32) (param $g i32)
    (param $wo i32) (param $mo i32) (param $vo i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $ss f32) (param $sb f32) (param $eps f32)
    (local $i i32) (local $end i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    ;; Whole groups of four floats.
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done4
      (loop $four
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (f32x4.splat (local.get $b1)))
          (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
        (local.set $vv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (f32x4.splat (local.get $b2)))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $c2)))))
        (v128.store (i32.add (local.get $mo) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $vo) (local.get $i)) (local.get $vv))
        (v128.store (i32.add (local.get $wo) (local.get $i))
          (f32x4.sub (v128.load (i32.add (local.get $w) (local.get $i)))
            (f32x4.mul (f32x4.splat (local.get $ss))
              (f32x4.div (local.get $mv)
                (f32x4.add
                  (f32x4.div (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $sb)))
                  (f32x4.splat (local.get $eps)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $four)))
    ;; The last n mod 4 floats, one at a time.
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $i))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $mo) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $vo) (local.get $i)) (local.get $vs))
        (f32.store (i32.add (local.get $wo) (local.get $i))
          (f32.sub (f32.load (i32.add (local.get $w) (local.get $i)))
            (f32.mul (local.get $ss)
              (f32.div (local.get $ms)
                (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $sb)) (local.get $eps))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $one)))))
