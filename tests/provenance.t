#!/bin/bash
# The features' provenance, key by key: a model copies its training
# features' provenance, and every reader refuses features made otherwise
# (classify, topeval, a second training file or the --valid file of
# topfit, a later segment of a concatenated stream), with status 1,
# nothing on stdout and a message that names the key and both values.
#
# The features below all have the same shape, so only the provenance can
# tell them apart; that is the real case for pooled features ([c] at any
# image size), and it is how a diff that skipped array elements once let
# classify take 150x150 features for a 224x224 model.
. "$(dirname "$0")/lib.sh"

# Variants: NAME, then the message each reader gives (fixed text).
variants='backbone	provenance.backbone: "resnet50" here, "vgg16" before
weights	provenance.weights: "random:7" here, "sha256:'"$(printf 'ab%.0s' $(seq 32))"'" before
layer	provenance.layer: "block4_pool" here, "block5_pool" before
pooling	provenance.pooling: "max" here, "none" before
preprocess	provenance.preprocess: "torch" here, "caffe" before
size0	provenance.size[0]: 150 here, 224 before
size1	provenance.size[1]: 150 here, 224 before
fit	provenance.fit: "squash" here, "crop" before
icc	provenance.icc: present here, absent before
nofit	provenance.fit: absent here, present before'
nvariants=$(printf '%s\n' "$variants" | wc -l)
plan $((6 + 5 * nvariants))

# ref.feat, same.feat (the reference's provenance with its keys in another
# order, another weights_file and class list: none of that is compared)
# and one file per variant, all with the same records.
$PY - $(printf '%s\n' "$variants" | cut -f1) <<'PY'
import msgpack, sys
import numpy as np
rng = np.random.default_rng(3)
ref = {"backbone": "vgg16", "weights": "sha256:" + "ab" * 32, "layer": "block5_pool",
       "pooling": "none", "preprocess": "caffe", "size": [224, 224], "fit": "crop"}
change = {"backbone": ("backbone", "resnet50"), "weights": ("weights", "random:7"),
          "layer": ("layer", "block4_pool"), "pooling": ("pooling", "max"),
          "preprocess": ("preprocess", "torch"), "size0": ("size", [150, 224]),
          "size1": ("size", [224, 150]), "fit": ("fit", "squash"),
          "icc": ("icc", "ignore"), "nofit": ("fit", None)}
labels = ["a", "b"] * 4
x = rng.standard_normal((len(labels), 1, 1, 4)) + np.where(np.array(labels) == "a", 1.0, -1.0)[:, None, None, None]

def write(path, prov, weights_file="vgg16.h5", classes=("a", "b"), prefix="img"):
    with open(path, "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "features", "provenance": prov,
                               "weights_file": weights_file, "classes": list(classes)}))
        for i, (v, l) in enumerate(zip(x, labels)):
            f.write(msgpack.packb({"id": "%s%d.jpg" % (prefix, i), "label": l,
                                   "features": {"shape": [1, 1, 4], "dtype": "f32",
                                                "data": v.astype("<f4").tobytes()}},
                                  use_bin_type=True))
        f.write(msgpack.packb({"end": len(labels)}))

write("ref.feat", ref)
write("same.feat", dict(reversed(list(ref.items()))), "elsewhere.h5", ("b", "a"), "other")
for name in sys.argv[1:]:
    key, value = change[name]
    p = dict(ref)
    if value is None:
        del p[key]
    else:
        p[key] = value
    write(name + ".feat", p, prefix="other")
PY
topfit --quiet --hidden 4 --epochs 2 -o ref.model ref.feat
$PY -c "
import msgpack
f = next(msgpack.Unpacker(open('ref.feat', 'rb'), raw=False))['provenance']
m = next(msgpack.Unpacker(open('ref.model', 'rb'), raw=False))['provenance']
assert f == m, (f, m)"
ok $? "the model's provenance is its training features'"

FIT="topfit --quiet --hidden 4 --epochs 1"

# accepted DESCRIPTION CMD...: status 0 and something on stdout, so that
# a refusal below is the provenance's doing and not the command's.
accepted() {
	_d=$1; shift
	run "$@"
	if [ "$rc" -eq 0 ] && [ -s "$T/out" ]; then ok 0 "$_d"; else
		ok 1 "$_d"; echo "#   status $rc, $(wc -c < "$T/out") bytes on stdout, stderr:"
		sed 's/^/#   /' "$T/err" | head -5; fi
}
cat ref.feat same.feat > cat-same.feat
accepted "classify takes features made as the model's (keys in any order; weights_file and classes not compared)" \
	classify -m ref.model same.feat
accepted "... and so does topeval" topeval -m ref.model same.feat
accepted "... and topfit as a second training file" $FIT ref.feat same.feat
accepted "... and as the --valid file" $FIT --valid same.feat ref.feat
accepted "... and as a second segment" $FIT cat-same.feat

# refused DESCRIPTION MESSAGE CMD...: status 1, nothing on stdout, and
# MESSAGE (fixed text, not a pattern: it holds brackets and quotes).
refused() {
	_d=$1 _m=$2; shift 2
	run "$@" < /dev/null    # the loop below reads the variants on stdin
	if [ "$rc" -eq 1 ] && [ ! -s "$T/out" ] && grep -Fq -- "$_m" "$T/err"; then ok 0 "$_d"; else
		ok 1 "$_d"; echo "#   status $rc (want 1), $(wc -c < "$T/out") bytes on stdout" \
			"($(head -c 60 "$T/out" | tr -c '[:print:]' .)), stderr:"
		sed 's/^/#   /' "$T/err" | head -5; echo "#   wanted: $_m"; fi
}

while IFS='	' read -r v msg; do
	key=${msg%%:*}
	# Against the model or a first file, a layer gets the message that
	# says which option fixes it; a later segment is compared as any key.
	said=$msg
	[ "$v" = layer ] && said="features cut at block4_pool; this needs block5_pool features (vggfeat --layer block5_pool)"
	refused "classify refuses $v.feat ($key)" \
		"$v.feat: these features were not made like the model's (\"here\" is the features, \"before\" the model): $said" \
		classify -m ref.model $v.feat
	refused "topeval refuses $v.feat ($key)" \
		"$v.feat: these features were not made like the model's (\"here\" is the features, \"before\" the model): $said" \
		topeval -m ref.model $v.feat
	refused "topfit refuses $v.feat as a second training file ($key)" \
		"$v.feat: features made differently from those of ref.feat (\"here\" is $v.feat, \"before\" is ref.feat): $said" \
		$FIT ref.feat $v.feat
	refused "topfit refuses $v.feat as the --valid file ($key)" \
		"$v.feat: features made differently from those of ref.feat (\"here\" is $v.feat, \"before\" is ref.feat): $said" \
		$FIT --valid $v.feat ref.feat
	cat ref.feat $v.feat > cat-$v.feat
	refused "topfit refuses $v.feat as a second segment ($key)" \
		"cat-$v.feat: after the trailer of segment 1: the header of segment 2 disagrees with the first: $msg" \
		$FIT cat-$v.feat
done <<< "$variants"

done_testing
