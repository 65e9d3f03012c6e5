# The grading image of `course autograde --backend kubernetes` (and of a site's Apptainer, where
# a Slurm cluster has unprivileged user namespaces off: `apptainer build grader.sif
# docker-daemon://course-grader:latest`). One pod per submission runs
#   python -m coursekit.grading.backends.task /grading/tasks.json
# as user nobody (65534) on a read-only root file system; /grading (its folder of the volume) and
# /tmp are the only writable places. Build it from the repository root:
#   docker build -f docker/grader.Dockerfile -t registry.example.org/course-grader:2026 .
# CPU-only PyTorch keeps it near 1 GB; the pinned versions are requirements.txt's.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 \
    MPLBACKEND=Agg \
    HOME=/tmp

WORKDIR /opt/course
COPY requirements.txt pyproject.toml ./
COPY course_utils/ course_utils/
COPY coursekit/ coursekit/
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        "torch==2.14.1" "torchvision==0.29.1" \
 && pip install -r requirements.txt \
 && pip install --no-deps ./course_utils . \
 && python -c "import coursekit.grading.worker, course_utils, torch"

# The grader's user: no root, no shell login, no home to write (HOME is the pod's /tmp).
USER 65534:65534
WORKDIR /grading
ENTRYPOINT []
CMD ["python", "-m", "coursekit.grading.backends.task", "/grading/tasks.json", "--index", "0"]
