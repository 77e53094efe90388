# gprofiler's container image: the single-file executable alone on an empty filesystem.
#
#   docker build -t gprofiler .
#   docker run -d --name gprofiler --restart=always --pid=host --privileged \
#       -v /var/lib/gprofiler:/var/lib/gprofiler gprofiler
#
# --pid=host and --privileged are required: perf samples every process on the host, and py-spy,
# the JVM attach and perf maps reach processes by their host PIDs. Options are GPROFILER_* variables
# (-e GPROFILER_PROFILING_FREQUENCY=49) or arguments after the image name.
#
# The final stage takes the executable from the stage named by EXECUTABLE_FROM: `build` compiles
# it here; `prebuilt` takes build/image-root from the context, which `./dev.sh image` stages after
# `./dev.sh exe` (that is how the tests build the image without pulling a base image). Pass
# --build-arg GPROFILER_VERSION=$(build/x86_64/gprofiler --version) to label the version.
ARG EXECUTABLE_FROM=build

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
# dev.sh installs what it needs (perf, Python, Node.js for the flame graph assets) and builds.
RUN ./dev.sh exe && scripts/stage_image_root.sh /src/build/image-root "build/$(uname -m)/gprofiler"

FROM scratch AS prebuilt
COPY build/image-root/ /src/build/image-root/

FROM ${EXECUTABLE_FROM} AS executable

FROM scratch
ARG GPROFILER_VERSION=unknown
COPY --from=executable /src/build/image-root/ /
ENV GPROFILER_CONTINUOUS=true \
    GPROFILER_OUTPUT_DIR=/var/lib/gprofiler \
    GPROFILER_ROTATING_OUTPUT=true \
    GPROFILER_LOG_FILE= \
    GPROFILER_PID_FILE=/tmp/gprofiler.pid \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    TMPDIR=/tmp
LABEL org.opencontainers.image.title="gprofiler" \
      org.opencontainers.image.description="Continuous system-wide profiler: perf, py-spy, JFR and Node.js perf maps merged into one flame graph per cycle" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${GPROFILER_VERSION}"
ENTRYPOINT ["/gprofiler"]
