#!/bin/bash
# valgrind memcheck on a small end-to-end pipeline (32x32 images,
# block3_pool, maps included) and on fine-tuning block 5: no invalid access, no
# uninitialised value used, nothing definitely lost, in any tool. No
# suppressions are needed.
. "$(dirname "$0")/lib.sh"
plan 13

# valgrind 3.19 cannot execute AVX-512 instructions. The JPEG-XL module
# that libvips loads at start runs some while it initialises; pointing
# VIPSHOME elsewhere keeps libvips' optional modules unloaded (JPEG, PNG
# and the other common formats are built in). OpenBLAS picks AVX-512
# kernels too unless OPENBLAS_CORETYPE says otherwise: where the
# environment leaves it unset on such a processor, the runs under valgrind
# alone name an AVX2 core.
blas_env=()
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then
	blas_env=(OPENBLAS_CORETYPE=Haswell)
fi
vg() {
	env VIPSHOME=/nonexistent "${blas_env[@]}" valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite "$@"
}

$PY - <<'PY'
import os
from PIL import Image
for c in ("a", "b"):
    os.makedirs(f"img/{c}", exist_ok=True)
    for i in range(3):
        Image.new("RGB", (40, 30), (80 * i, 200 if c == "a" else 30, 60)).save(f"img/{c}/{i}.png")
    Image.new("RGB", (40, 30), (10, 10, 200)).save(f"img/{c}/x.jpg")
PY

vg "$VGGPIPE_BIN/imgprep" --size 32 --threads 2 --quiet img > s.img 2> vg.imgprep
ok $? "imgprep: clean under valgrind"; sed 's/^/# /' vg.imgprep | head -20
vg "$VGGPIPE_BIN/vggfeat" --init-random 1 --layer block3_pool --threads 2 --batch 2 \
	--quiet < s.img > s.feat 2> vg.vggfeat
ok $? "vggfeat: clean under valgrind"; sed 's/^/# /' vg.vggfeat | head -20
vg "$VGGPIPE_BIN/topfit" --epochs 3 --hidden 8 --batchnorm --quiet < s.feat > s.model 2> vg.topfit
ok $? "topfit: clean under valgrind"; sed 's/^/# /' vg.topfit | head -20
vg "$VGGPIPE_BIN/topeval" --model s.model --format json < s.feat > report.json 2> vg.topeval
ok $? "topeval: clean under valgrind"; sed 's/^/# /' vg.topeval | head -20
vg "$VGGPIPE_BIN/classify" --model s.model --top 2 < s.feat > pred.csv 2> vg.classify
ok $? "classify: clean under valgrind"; sed 's/^/# /' vg.classify | head -20
vg "$VGGPIPE_BIN/topcam" --model s.model --label < s.feat > s.maps 2> vg.topcam
ok $? "topcam: clean under valgrind"; sed 's/^/# /' vg.topcam | head -20
# A list read as it comes, on its own thread.
find img -type f | sort | vg "$VGGPIPE_BIN/imgprep" --size 32 --threads 2 --quiet - \
	> list.img 2> vg.list
ok $? "imgprep - (a list read as it comes): clean under valgrind"; sed 's/^/# /' vg.list | head -20
vg "$VGGPIPE_BIN/vggdump" s.img s.feat s.model s.maps > /dev/null 2> vg.vggdump
ok $? "vggdump: clean under valgrind"; sed 's/^/# /' vg.vggdump | head -20
is "$(tail -n +2 pred.csv | wc -l)" 8 "the pipeline under valgrind classified every image"

# Fine-tuning: block4_pool features on a pipe (spooled), a warm-up and a
# tuning epoch with Winograd's convolutions, then the tuned model run with
# im2col's. The rate is given: the range test's steps are the epochs'
# training step (train_loss_grad) run a hundred times, which under
# valgrind costs a quarter of an hour and finds nothing the epoch does
# not.
"$VGGPIPE_BIN/vggfeat" --init-random 1 --layer block4_pool --quiet < s.img > s4.feat
cat s4.feat | vg "$VGGPIPE_BIN/topfit" --finetune block5 --init-random 1 --warmup 1 --epochs 1 \
	--lr 1e-5 --hidden 8 --quiet > t.model 2> vg.finetune
ok $? "topfit --finetune: clean under valgrind"; sed 's/^/# /' vg.finetune | head -20
vg "$VGGPIPE_BIN/classify" --algo im2col --model t.model s4.feat > t.csv 2> vg.tuned
ok $? "classify, a fine-tuned model: clean under valgrind"; sed 's/^/# /' vg.tuned | head -20
is "$(tail -n +2 t.csv | wc -l)" 8 "the tuned model classified every image"
vg "$VGGPIPE_BIN/topcam" --algo im2col --model t.model s4.feat > t.maps 2> vg.tunedcam
ok $? "topcam, a fine-tuned model: clean under valgrind"; sed 's/^/# /' vg.tunedcam | head -20
done_testing
