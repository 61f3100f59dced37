"""The closed set of rules a derivation cites, as an enum (model layer; renderers word them)."""

from __future__ import annotations

import enum


class Rule(enum.Enum):
    """A differentiation rule or identity one step of a derivation uses."""

    CHAIN = "chain rule"
    SUM_OVER_PATHS = "sum over the downstream uses (multivariable chain rule)"
    SUM = "sum rule"
    PRODUCT = "product rule"
    QUOTIENT = "quotient rule"
    POWER = "power rule"
    CONSTANT_FACTOR = "constant factor"
    HALF_CANCELS_TWO = "the 1/2 cancels the 2"
    MEAN_OVER_OUTPUTS = "mean over the outputs: a factor 1/n"
    SIGMOID_IDENTITY = "sigma' = sigma (1 - sigma)"
    TANH_IDENTITY = "tanh' = 1 - tanh^2"
    RELU_STEP = "relu' is the step 1[z > 0] (taken as 0 at z = 0)"
    LEAKY_RELU_STEP = "leaky relu' is 1 for z > 0, else 0.01"
    SOFTPLUS_SIGMOID = "softplus' = sigma"
    IDENTITY = "the identity's derivative is 1"
    SOFTMAX_JACOBIAN = "d softmax_i / d z_k = softmax_i (delta_ik - softmax_k)"
    SOFTMAX_CROSS_ENTROPY = "softmax with cross-entropy: delta = a - y (targets sum to 1)"
    SIGMOID_CROSS_ENTROPY = "sigmoid with binary cross-entropy: delta = a - y"
    LOG_DERIVATIVE = "d log u = du / u"
    EXP_DERIVATIVE = "d e^u = e^u du"
    ELEMENTARY = "derivative of an elementary function"
    BIAS_IS_ONE = "a bias's input is 1"
    WEIGHT_PICKS_INPUT = "a weight picks up its input"
    WEIGHT_CARRIES_BLAME = "a weighted sum passes blame back along the weight"
    ADD_GATE = "an add gate passes the gradient to each of its inputs unchanged"
    MUL_GATE = "a mul gate swaps its inputs: each input's gradient is the other input"
    GRADIENT_DESCENT = "gradient descent: theta <- theta - eta dL/dtheta"
    MOMENTUM_VELOCITY = "momentum: the velocity v <- mu v + g gathers past gradients"
    MOMENTUM_STEP = "heavy ball: theta <- theta - eta v"
    NESTEROV_STEP = "Nesterov: theta <- theta - eta (g + mu v), a look ahead along v"
    GRADIENT_AVERAGE = "running average of the gradient: m <- beta1 m + (1 - beta1) g"
    SQUARED_GRADIENT_AVERAGE = "running average of the squared gradient: s <- rho s + (1 - rho) g^2"
    RMSPROP_STEP = "RMSProp: theta <- theta - eta g / (sqrt(s) + epsilon)"
    ADAM_STEP = (
        "Adam: theta <- theta - eta m^ / (sqrt(s^) + epsilon), m^ and s^ divided by (1 - beta^t)"
    )
    L2_PENALTY = "L2 penalty (weight decay): d/dw (lambda/2) w^2 = lambda w"
    L1_PENALTY = "L1 penalty: d/dw lambda_1 |w| = lambda_1 sign(w)"
    # --- the matrix level (networks of layers); not offered in scalar worksheets ------------
    TRANSPOSE_PRODUCT = "transpose rule of a product: for Y = A B, dA = dY B^T and dB = A^T dY"
    HADAMARD_DERIVATIVE = "elementwise function: dZ = dA o f'(Z) (Hadamard product with f')"
    HADAMARD_PRODUCT = "elementwise product: the adjoint times the other factor, elementwise"
    HADAMARD_POWER = "elementwise power: d(X^p) = p X^(p-1), elementwise"
    TRANSPOSE = "the adjoint of a transpose is the transposed adjoint"
    BATCH_SUM = "a bias is shared by every sample (b 1^T): its gradient sums over the batch (dZ 1)"
    BROADCAST_SUM = "a broadcast copies a vector into every row or column: its adjoint sums them"
    SUM_SPREADS = "a sum hands its adjoint to every term it added (times 1^T)"
    SOFTMAX_COLUMNS = (
        "softmax's Jacobian diag(s) - s s^T, per column: dZ = S o (dS - 1 1^T(S o dS))"
    )
    BATCH_MEAN = "the loss is the mean over the batch: a parameter's gradient gets a factor 1/B"
    RESIDUAL_PATHS = "a residual connection: the input's blame adds over both paths (skip + block)"
    NORM_MEAN_PATH = "normalisation: part of the blame reaches the input through the mean"
    NORM_VARIANCE_PATH = (
        "normalisation: part of the blame reaches the centred input through the variance"
    )
    BLOCK_ROWS = "a block of rows: its adjoint goes back into those rows (zeros elsewhere)"
    # --- convolution and pooling (model/conv_ops.py) ------------------------------------------
    CONV_INPUT_GRADIENT = (
        "the input's gradient is the full convolution of the adjoint with the kernel rotated 180°"
    )
    CONV_KERNEL_GRADIENT = "the kernel's gradient correlates the input with the adjoint"
    CONV_BIAS_SUM = "a channel's bias is added at every position: its gradient sums them"
    MAX_POOL_ROUTE = "max pooling routes each window's adjoint to its winner (0 to the others)"
    AVG_POOL_SPREAD = "average pooling spreads each window's adjoint evenly over its window"
    # --- recurrent layers: backpropagation through time --------------------------------------
    HIDDEN_STATE_PATHS = (
        "a hidden state H<t> feeds this step's output and the next step: its adjoint is the sum "
        "of both paths"
    )
    SUM_OVER_STEPS = (
        "a parameter shared by the time steps: its gradient sums over the steps it was used in"
    )
    CELL_STATE_PATHS = (
        "an LSTM cell state C<t> feeds this step's hidden state and the next cell state: its "
        "adjoint is the sum of both paths"
    )
    TRUNCATED_PATH = (
        "truncated BPTT: the state is detached at the chunk boundary, so the gradient stops there"
    )


MATRIX_RULES = frozenset(
    {
        Rule.TRANSPOSE_PRODUCT,
        Rule.HADAMARD_DERIVATIVE,
        Rule.HADAMARD_PRODUCT,
        Rule.HADAMARD_POWER,
        Rule.TRANSPOSE,
        Rule.BATCH_SUM,
        Rule.BROADCAST_SUM,
        Rule.SUM_SPREADS,
        Rule.SOFTMAX_COLUMNS,
        Rule.BATCH_MEAN,
        Rule.RESIDUAL_PATHS,
        Rule.NORM_MEAN_PATH,
        Rule.NORM_VARIANCE_PATH,
        Rule.BLOCK_ROWS,
        Rule.HIDDEN_STATE_PATHS,
        Rule.SUM_OVER_STEPS,
        Rule.CELL_STATE_PATHS,
        Rule.TRUNCATED_PATH,
    }
)
CONV_RULES = frozenset(
    {
        Rule.CONV_INPUT_GRADIENT,
        Rule.CONV_KERNEL_GRADIENT,
        Rule.CONV_BIAS_SUM,
        Rule.MAX_POOL_ROUTE,
        Rule.AVG_POOL_SPREAD,
    }
)
MATRIX_RULES = MATRIX_RULES | CONV_RULES
