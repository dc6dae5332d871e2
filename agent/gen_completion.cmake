# Write the bash completion script of the agent binary AGENT to OUT
# (`agent completion bash`: made from its command table).
# EMU: the cross build's emulator, its words separated by "|" (or empty).
string(REPLACE "|" ";" EMU "${EMU}")
execute_process(COMMAND ${EMU} ${AGENT} completion bash OUTPUT_FILE ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "agent completion bash failed: ${rc}")
endif()
