// xgrad: the umbrella header. Each layer's headers also stand on their own.
#pragma once
