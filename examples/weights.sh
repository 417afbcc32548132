# Sourced by the example scripts: weights_opt, how vggfeat and topfit get
# the VGG16 weights: --weights FILE where a file is found
# ($VGGPIPE_WEIGHTS, else Keras' cache), else --init-random 1 (random
# weights: the pipeline's shape, not a result); weights, the file looked
# for.
keras_cache=$HOME/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
weights=${VGGPIPE_WEIGHTS:-$keras_cache}
if [ -f "$weights" ]; then
	weights_opt=(--weights "$weights")
else
	weights_opt=(--init-random 1)
fi
