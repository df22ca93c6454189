# Engine Foundry build image: one file, two flavours (docs/docker.md).
#   FLAVOUR=trt  TensorRT 8.6 / CUDA 12.2 (NGC TensorRT 23.08 base), the default
#   FLAVOUR=cpu  ONNX Runtime only, on a slim Debian/Python base (or the local Debian base of `make offline-base`)
# Use `make image FLAVOUR=cpu|trt`: it passes BASE_IMAGE pinned by digest from images.lock and records what was used.
# Works with the legacy builder (no BuildKit features).

# Base image; BASE_IMAGE overrides it for either flavour (a pinned `name@sha256:…` or a local image ID).
ARG BASE_IMAGE=nvcr.io/nvidia/tensorrt:23.08-py3

# ---------------------------------------------------------------------------------------------------------------
# Stage 1: the hash-locked Python dependencies, installed into /opt/venv. Nothing of this stage but /opt/venv
# reaches the image: the wheelhouse and the extra CA stay here.
FROM ${BASE_IMAGE} AS deps
ARG FLAVOUR=trt
# A folder under requirements/ holding every wheel of requirements/<FLAVOUR>.txt (`--no-index --find-links`);
# empty: download from the configured index.
ARG WHEELHOUSE=
# A PEM bundle under requirements/ trusted in addition to the base's CAs, for the pip step only (e.g. a
# TLS-intercepting proxy's CA); empty: none.
ARG EXTRA_CA=
# Another ultralytics distribution instead of the locked one (a fork): a pip requirement such as
# `my-ultralytics==8.4.190` or a wheel path under /tmp/requirements/; pin it with ULTRALYTICS_SHA256.
ARG ULTRALYTICS=
ARG ULTRALYTICS_SHA256=
# Index for online builds (empty: pip's default)
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
COPY requirements/ /tmp/requirements/
RUN set -eu; \
    lock="/tmp/requirements/${FLAVOUR}.txt"; \
    test -f "$lock" || { echo "ERROR no lock file requirements/${FLAVOUR}.txt for FLAVOUR=${FLAVOUR}" >&2; exit 2; }; \
    [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; [ -n "$PIP_EXTRA_INDEX_URL" ] || unset PIP_EXTRA_INDEX_URL; \
    python3 -m venv --system-site-packages /opt/venv 2>/dev/null \
      || python3 -m venv --system-site-packages --without-pip /opt/venv; \
    src=""; \
    if [ -n "$WHEELHOUSE" ]; then src="--no-index --find-links /tmp/requirements/${WHEELHOUSE}"; fi; \
    if [ -n "$EXTRA_CA" ]; then \
      { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; cat "/tmp/requirements/${EXTRA_CA}"; } > /tmp/ca-bundle.pem; \
      export PIP_CERT=/tmp/ca-bundle.pem REQUESTS_CA_BUNDLE=/tmp/ca-bundle.pem SSL_CERT_FILE=/tmp/ca-bundle.pem; \
    fi; \
    if [ -n "$ULTRALYTICS" ]; then \
      awk '/^ultralytics==/ {skip=1; next} skip && /^[[:space:]]+--hash/ {next} {skip=0; print}' "$lock" > /tmp/lock.txt; \
    else cp "$lock" /tmp/lock.txt; fi; \
    pip="/opt/venv/bin/python -m pip --disable-pip-version-check --no-cache-dir"; \
    $pip install --require-hashes --no-deps --ignore-installed $src -r /tmp/lock.txt; \
    if [ -n "$ULTRALYTICS" ]; then \
      if [ -n "$ULTRALYTICS_SHA256" ]; then \
        echo "$ULTRALYTICS --hash=sha256:$ULTRALYTICS_SHA256" > /tmp/ultralytics.txt; \
        $pip install --require-hashes --no-deps $src -r /tmp/ultralytics.txt; \
      else \
        echo "WARNING ULTRALYTICS=$ULTRALYTICS is installed without a hash pin (set ULTRALYTICS_SHA256)"; \
        $pip install --no-deps $src "$ULTRALYTICS"; \
      fi; \
    fi; \
    YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false YOLO_CONFIG_DIR=/tmp/yolo /opt/venv/bin/python -c \
      "import cv2, numpy, onnx, onnxruntime, onnxslim, polygraphy, torch, ultralytics, yaml"; \
    if [ "$FLAVOUR" = trt ]; then /opt/venv/bin/python -c "import tensorrt; print('TensorRT', tensorrt.__version__)"; fi; \
    rm -rf /tmp/requirements /tmp/lock.txt /tmp/ca-bundle.pem /tmp/yolo
# Marks this stage's image as the project's, so `make image` / `make clean` can remove it once unused.
LABEL engine-foundry.flavour="${FLAVOUR}" engine-foundry.stage="deps"

# ---------------------------------------------------------------------------------------------------------------
# Stage 2: the image. Order: user and environment, dependencies, then the builder package last, so a change to
# builder/ rebuilds in seconds. Profiles and models are not in the image: the launcher mounts them.
FROM ${BASE_IMAGE}
ARG FLAVOUR=trt
ARG BUILDER_UID=1000
RUN getent passwd "${BUILDER_UID}" >/dev/null || { \
      echo "builder:x:${BUILDER_UID}:${BUILDER_UID}:Engine Foundry:/tmp/home:/bin/sh" >> /etc/passwd; \
      echo "builder:x:${BUILDER_UID}:" >> /etc/group; }
# The root filesystem is read-only at run time and a tmpfs is mounted at /tmp: every writable path lives there.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    YOLO_AUTOINSTALL=false \
    YOLO_OFFLINE=1 \
    ULTRALYTICS_SAFE_LOAD=1 \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    POLYGRAPHY_AUTOINSTALL_DEPS=0 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp/home \
    MPLCONFIGDIR=/tmp/matplotlib \
    ENGINE_FOUNDRY_FLAVOUR=${FLAVOUR}
COPY --from=deps /opt/venv /opt/venv
WORKDIR /opt/engine-foundry
COPY pyproject.toml README* ./
COPY builder/ builder/
RUN /opt/venv/bin/python -m pip install --disable-pip-version-check --no-cache-dir --no-deps --no-index \
      --no-build-isolation . \
    && rm -rf build ./*.egg-info \
    && if [ "$FLAVOUR" != cpu ]; then YOLO_CONFIG_DIR=/tmp/yolo /opt/venv/bin/python -m builder.backends.tensorrt.smoke \
         && rm -rf /tmp/yolo; fi
USER ${BUILDER_UID}
ENTRYPOINT ["python3", "-m", "builder"]
CMD ["--help"]

# Labels last: their values change on every build without invalidating any layer above.
ARG BASE_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="engine-foundry-${FLAVOUR}" \
      org.opencontainers.image.description="Engine Foundry: reproducible Ultralytics YOLO -> TensorRT / ONNX Runtime builds (${FLAVOUR} flavour)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      engine-foundry.flavour="${FLAVOUR}"
