#!/bin/bash
# vggfeat's weights: every Keras HDF5 layout and safetensors give the same
# features; where the weights are looked for; provenance; broken files.
. "$(dirname "$0")/lib.sh"
plan 34

chk() { "$PY" "$TESTS_DIR/vggfeat_check.py" "$@"; }
"$PY" "$TESTS_DIR/vggfeat_ref.py" weights 5 "$T" || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" images img.mp 40x36 || exit 1

vggfeat --weights keras1.h5 <img.mp >keras1.feat
for f in keras2-full.h5 keras3.h5 native.weights.h5 model.h5 nested.h5 vgg16.safetensors; do
	vggfeat --weights "$f" --preprocess caffe <img.mp >"$f.feat"
	is "$(chk close keras1.feat "$f.feat")" 0.0 "$f gives the same features as the Keras 1 file"
done

is "$(chk header keras1.feat provenance.weights)" "\"sha256:$(sha256sum <keras1.h5 | cut -d' ' -f1)\"" \
	"provenance: the SHA-256 of the weights file"
is "$(chk header keras1.feat weights_file provenance.preprocess | tr '\n' ' ')" \
	'"keras1.h5" "caffe" ' "the file's base name; Keras weights default to caffe"
vggfeat --weights vgg16.safetensors <img.mp >st.feat
is "$(chk header st.feat provenance.preprocess)" '"torch"' "torchvision weights default to torch"
cp keras1.h5 renamed.h5
vggfeat --weights "$T/renamed.h5" <img.mp >renamed.feat
is "$(chk header renamed.feat provenance)" "$(chk header keras1.feat provenance)" \
	"provenance does not depend on the file name"

# Where the weights are looked for.
mkdir -p home/.keras/models empty
cp keras3.h5 home/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
HOME=$T/home VGGPIPE_WEIGHTS= vggfeat <img.mp >home.feat
is "$(chk header home.feat weights_file)" '"vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"' \
	"without --weights or VGGPIPE_WEIGHTS: Keras' cache in ~/.keras/models"
HOME=$T/home VGGPIPE_WEIGHTS=$T/model.h5 vggfeat <img.mp >env.feat
is "$(chk header env.feat weights_file)" '"model.h5"' "VGGPIPE_WEIGHTS comes before the cache"
HOME=$T/home VGGPIPE_WEIGHTS=$T/model.h5 vggfeat --weights keras1.h5 <img.mp >opt.feat
is "$(chk header opt.feat weights_file)" '"keras1.h5"' "--weights comes first"
HOME=$T/empty VGGPIPE_WEIGHTS= run vggfeat <img.mp
ok $(( rc != 1 )) "no weights anywhere: exit 1"
grep -q "6d6bbae143d832006294945121d1f1fc" err && grep -q "https://storage.googleapis.com/.*_notop.h5" err
ok $? "the message says where to download the file and its md5"
is "$(wc -c <out)" 0 "and nothing is written"

# torchvision's .pth through the converter.
"$PY" - <<'PY'
import numpy as np, torch
w = np.load("weights.npz")
idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
names = sorted({k.split("/")[0] for k in w.files})
sd = {}
for i, n in zip(idx, names):
    sd[f"features.{i}.weight"] = torch.from_numpy(w[n + "/kernel"].transpose(3, 2, 0, 1).copy())
    sd[f"features.{i}.bias"] = torch.from_numpy(w[n + "/bias"])
torch.save(sd, "vgg16.pth")
PY
run "$PY" "$SRC_DIR/tools/pth2safetensors.py" vgg16.pth conv.safetensors
ok "$rc" "pth2safetensors converts a torchvision checkpoint"
vggfeat --weights conv.safetensors --preprocess caffe <img.mp >conv.feat
is "$(chk close keras1.feat conv.feat)" 0.0 "its features are the Keras file's"

# Broken files: exit 1, a message naming what is wrong, nothing on stdout.
bad() { # DESCRIPTION WORDS FILE
	run vggfeat --weights "$3" <img.mp
	if [ "$rc" -eq 1 ] && [ ! -s out ] && grep -Eq -- "$2" err; then ok 0 "$1"; else
		ok 1 "$1"; echo "#   status $rc, stdout $(wc -c <out) bytes"; sed 's/^/#   /' err; fi
}
bad "a missing file" "nope.h5: No such file" nope.h5
bad "a missing layer is named" "missing.h5: 12 convolution layers.*block5_conv3" missing.h5
bad "a wrong shape names the layer and both shapes" \
	"layer 'block3_conv1'.*\(3, 3, 64, 256\), expected \(3, 3, 128, 256\)" shape.h5
cp keras2-full.h5 nobias.h5
"$PY" -c "import h5py, numpy as np
h5py.File('nobias.h5', 'r+')['block2_conv2'].attrs['weight_names'] = np.array([b'block2_conv2/kernel:0'])"
bad "a kernel without its bias" \
	"layer 'block2_conv2' \(VGG16's block2_conv2\): kernel 'block2_conv2/kernel:0' is not followed by a 1-D bias" \
	nobias.h5
head -c 30000000 keras2-full.h5 >cut.h5
bad "a truncated HDF5 file" "cut.h5: " cut.h5
echo "not weights" >text.h5
bad "a file that is neither HDF5 nor safetensors" "neither an HDF5.*nor a safetensors" text.h5
: >empty.h5
bad "an empty file" "empty.h5: " empty.h5
"$PY" -c "import h5py; h5py.File('nolayers.h5', 'w').create_dataset('x', data=[1.0])"
bad "an HDF5 file that is not Keras weights" "no 'layer_names' attribute" nolayers.h5
bad "a safetensors file without a tensor names it" \
	"block2_conv1: tensor 'features.5.weight' is missing" missing.safetensors
bad "offsets past the end of the file are refused" \
	"features.0.bias': data_offsets .* outside" offsets.safetensors
head -c 20000000 vgg16.safetensors >cut.safetensors
bad "a truncated safetensors file" "outside .* bytes of data" cut.safetensors
printf '\020\000\000\000\000\000\000\000{"a": [1, 2}    ' >json.safetensors
bad "a safetensors header that is not JSON" "not a JSON object" json.safetensors
"$PY" - <<'PY'
import json, struct
h = json.dumps({"features.0.weight": {"dtype": "F16", "shape": [64, 3, 3, 3],
                                      "data_offsets": [0, 3456]}}).encode()
open("f16.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(3456))
h = json.dumps({"features.0.weight": {"dtype": "F32", "shape": [64, 3, 3, 3],
                                      "data_offsets": [0, 100]}}).encode()
open("size.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(6912))
h = json.dumps({"features.0.weight": {"dtype": "F32", "shape": [64, 3, 5, 5],
                                      "data_offsets": [0, 19200]}}).encode()
open("shape.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(19200))
PY
bad "a tensor that is not F32" "features.0.weight': dtype is not F32" f16.safetensors
bad "data offsets that do not match the shape" "100 bytes of data for 1728 floats" size.safetensors
bad "a wrong safetensors shape names both shapes" \
	"block1_conv1: tensor 'features.0.weight' has shape \[64,3,5,5\], expected \[64,3,3,3\]" \
	shape.safetensors
head -c 4 vgg16.safetensors >four.safetensors
bad "a four-byte file" "four.safetensors: " four.safetensors
done_testing
