"""`pip install .`: builds the extension bitsim._bitsim with the project's CMake (target bitsim_python,
tests and benchmarks off) and installs it with the modules of python/bitsim. The version is the one
CMakeLists.txt declares. Needs the C++ build's dependencies (scripts/install-deps.sh)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def cmake_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(bitsim VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = Path(self.build_temp).resolve() / "cmake"
        build.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        "-DBITSIM_BUILD_TESTS=OFF", "-DBITSIM_BUILD_BENCH=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
                       check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "bitsim_python", "-j", str(os.cpu_count() or 2)],
                       check=True)
        built = next((build / "python" / "bitsim").glob("_bitsim*.so"))
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(built), str(target))


setup(
    version=cmake_version(),
    packages=["bitsim"],
    package_dir={"bitsim": "python/bitsim"},
    ext_modules=[Extension("bitsim._bitsim", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
