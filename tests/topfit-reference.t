#!/bin/bash
# topfit against independent references on the same splits: softmax
# regression against scikit-learn's multinomial LogisticRegression, and an
# MLP against the same network trained in PyTorch. Data: sklearn's bundled
# digits and a Gaussian mixture (tests/top_data.py). topfit standardises
# the features by default; the references are given the same
# standardisation (scikit-learn's StandardScaler), and once without it
# topfit --no-standardize is held to the reference on the raw features.
. "$(dirname "$0")/lib.sh"
plan 14

# topfit's objective is (1/n) sum CE + l2 ||W||^2; sklearn's is
# C sum CE + ||W||^2 / 2, the same up to a factor when C = 1 / (2 l2 n)
# (tests/top_ref.py computes C from l2 and the training set's size).
L2=0.001

# eval MODEL VALID: "accuracy loss" from topeval's JSON.
evaluate() {
	topeval -m "$1" -f json "$2" |
		$PY -c "import json,sys; r=json.load(sys.stdin); print(r['accuracy'], r['loss'])"
}
# within GOT WANT POINTS LOSS_FRACTION DESCRIPTION: accuracy within POINTS
# percentage points, log-loss within LOSS_FRACTION of the reference's.
within() {
	set -- $1 $2 $3 $4 "$5"
	$PY -c "import sys; a,l,ra,rl,pts,frac=map(float,sys.argv[1:7]); sys.exit(not (abs(a-ra)*100 <= pts and (frac < 0 or abs(l-rl) <= frac*rl)))" "$@"
	ok $? "$7 (topfit $1 $2, reference $3 $4)"
}

$PY "$TESTS_DIR/top_data.py" digits d
$PY "$TESTS_DIR/top_data.py" gauss g --classes 5 --dim 20 --n 3000 --seed 3

for ds in d g; do
	name=$([ $ds = d ] && echo digits || echo "Gaussian mixture")
	ref=$($PY "$TESTS_DIR/top_ref.py" logreg $ds.npz $L2 std)
	topfit --hidden '' --l2 $L2 --epochs 60 --batch 32 --lr 0.01 --threads 1 --quiet \
		-o $ds-lr.model $ds-train.feat
	got=$(evaluate $ds-lr.model $ds-valid.feat)
	set -- $got $ref
	$PY -c "import sys; sys.exit(abs(float('$1')-float('$3'))*100 > 1.5)"
	ok $? "$name: softmax regression accuracy $1 within 1.5 points of sklearn's $3"
	$PY -c "import sys; sys.exit(abs(float('$2')-float('$4')) > 0.1*float('$4'))"
	ok $? "$name: validation log-loss $2 within 10% of sklearn's $4"

	# The same MLP, hyper-parameters and initialisation scheme in PyTorch.
	ref=$($PY "$TESTS_DIR/top_ref.py" mlp $ds.npz 64 0.2 30 32 0.001 0.0001 1 std)
	topfit --hidden 64 --dropout 0.2 --l2 0.0001 --epochs 30 --batch 32 --lr 0.001 \
		--threads 1 --quiet -o $ds-mlp.model $ds-train.feat
	got=$(evaluate $ds-mlp.model $ds-valid.feat)
	set -- $got $ref
	$PY -c "import sys; sys.exit(abs(float('$1')-float('$3'))*100 > 2)"
	ok $? "$name: MLP accuracy $1 within 2 points of PyTorch's $3"
	$PY -c "import sys; sys.exit(abs(float('$2')-float('$4')) > 0.25*float('$4'))"
	ok $? "$name: MLP validation log-loss $2 near PyTorch's $4"
done

# With batch normalisation too (PyTorch's BatchNorm1d with topfit's
# epsilon and momentum), on digits.
ref=$($PY "$TESTS_DIR/top_ref.py" mlp d.npz 64 0 30 32 0.001 0 1 bn std)
topfit --hidden 64 --dropout 0 --batchnorm --epochs 30 --batch 32 --lr 0.001 \
	--threads 1 --quiet -o bn.model d-train.feat
set -- $(evaluate bn.model d-valid.feat) $ref
$PY -c "import sys; sys.exit(abs(float('$1')-float('$3'))*100 > 2)"
ok $? "digits: MLP with batchnorm accuracy $1 within 2 points of PyTorch's $3"
$PY -c "import sys; sys.exit(abs(float('$2')-float('$4')) > 0.25*float('$4'))"
ok $? "digits: MLP with batchnorm log-loss $2 near PyTorch's $4"

# Where training works without standardisation, it costs no more than a
# point of accuracy: the same MLP with and without it.
for ds in d g; do
	topfit --hidden 64 --dropout 0.2 --epochs 30 --threads 1 --quiet --no-standardize \
		-o $ds-raw-mlp.model $ds-train.feat
	set -- $(evaluate $ds-mlp.model $ds-valid.feat) $(evaluate $ds-raw-mlp.model $ds-valid.feat)
	$PY -c "import sys; sys.exit(float('$1') < float('$3') - 0.01)"
	ok $? "$([ $ds = d ] && echo digits || echo "Gaussian mixture"): standardised $1, not more than a point below unstandardised $3"
done

# Without standardisation, against the reference on the raw features.
ref=$($PY "$TESTS_DIR/top_ref.py" logreg d.npz $L2)
topfit --hidden '' --no-standardize --l2 $L2 --epochs 60 --batch 32 --lr 0.01 --threads 1 \
	--quiet -o raw.model d-train.feat
set -- $(evaluate raw.model d-valid.feat) $ref
$PY -c "import sys; sys.exit(abs(float('$1')-float('$3'))*100 > 1.5)"
ok $? "digits, --no-standardize: softmax regression accuracy $1 within 1.5 points of sklearn's $3"
$PY -c "import sys; sys.exit(abs(float('$2')-float('$4')) > 0.1*float('$4'))"
ok $? "digits, --no-standardize: validation log-loss $2 within 10% of sklearn's $4"

done_testing
